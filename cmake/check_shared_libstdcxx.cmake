# cmake -DLIBRARY=... -DREADELF=... -DCOMPILER=... -P check_shared_libstdcxx.cmake (see Arl2SharedLibstdcxx.cmake)
execute_process(COMMAND "${READELF}" -d "${LIBRARY}" OUTPUT_VARIABLE dynamic RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "readelf -d ${LIBRARY} failed")
endif()
if(NOT dynamic MATCHES "NEEDED[^\n]*libstdc\\+\\+\\.so")
  file(REMOVE "${LIBRARY}")
  message(FATAL_ERROR
    "${LIBRARY} links libstdc++ statically: ${COMPILER} finds libstdc++.a before libstdc++.so. "
    "Inside Python that private copy crashes next to torch's libstdc++.so.6. "
    "Configure a fresh build directory with a compiler that links libstdc++ dynamically, "
    "e.g. CXX=/usr/bin/g++ CUDAHOSTCXX=/usr/bin/g++ cmake ...")
endif()
