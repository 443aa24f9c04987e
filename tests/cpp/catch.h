// Catch2 v2 / v3 shim: the CPU machines have v2, the GPU machine v3 (whose GENERATE has its own header).
#pragma once

#if __has_include(<catch2/catch_test_macros.hpp>)
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#else
#include <catch2/catch.hpp>
#endif
