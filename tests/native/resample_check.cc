// Prints a hash of the resampler's outputs (kernels/resample_cpu.h) over random images of 1 to 5
// channels, sizes, filters and flips; built for several instruction sets, every build must print
// the same hash: the AVX2, SSSE3 and plain C++ horizontal passes write the same bytes. Buffers are
// exactly as large as the images, so a sanitizer build catches any read or write past them.
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

#include "kernels/resample_cpu.h"

using namespace dali_mixup::kernels;

int main() {
  std::mt19937 rng(5);
  uint64_t hash = 1469598103934665603ull;  // FNV-1a
  ResampleScratch scratch;
  for (int t = 0; t < 400; t++) {
    const int in_h = 1 + rng() % 300, in_w = 1 + rng() % 300, out_h = 1 + rng() % 250, out_w = 1 + rng() % 250;
    const int c = t % 4 == 3 ? 1 + t / 4 % 5 : 3;  // mostly RGB, the SIMD path
    std::vector<uint8_t> in(static_cast<size_t>(in_h) * in_w * c), out(static_cast<size_t>(out_h) * out_w * c);
    for (auto &v : in) v = static_cast<uint8_t>(rng());
    ResampleHWC(in.data(), out.data(), {in_h, in_w, out_h, out_w, c}, static_cast<Filter>(t & 1), (t >> 1) & 1,
                scratch);
    for (uint8_t v : out) hash = (hash ^ v) * 1099511628211ull;
  }
  std::printf("%016llx\n", static_cast<unsigned long long>(hash));
  return 0;
}
