// Packaging check: compiles against brook's public headers and links brook::brook exactly as a user
// would (see tests/consumer/CMakeLists.txt). Exits 0 when the version it sees is the one expected.

#include <brook/version.h>

// The umbrella header, once it exists: also checks that it is self-contained for a consumer (it
// includes no internal or uninstalled header and needs no include directory but brook's).
#if __has_include(<brook/brook.h>)
#include <brook/brook.h>
#endif

#include <cstdio>
#include <cstring>

int main() {
  std::printf("brook %s\n", brook::kVersionString);
  const bool ok = brook::kVersionMajor == BROOK_EXPECTED_MAJOR &&
                  brook::kVersionMinor == BROOK_EXPECTED_MINOR &&
                  brook::kVersionPatch == BROOK_EXPECTED_PATCH &&
                  BROOK_VERSION_MAJOR == brook::kVersionMajor &&
                  std::strlen(brook::kVersionString) > 0;
  return ok ? 0 : 1;
}
