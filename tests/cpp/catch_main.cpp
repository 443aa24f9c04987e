// Catch2 v2's main, compiled once into its own object (v3 brings Catch2WithMain instead).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
