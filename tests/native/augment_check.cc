// The augment kernels (csrc/kernels/augment_cpu.h) without DALI: every op with random levels,
// filters and fills on random images of random sizes (1 or 3 channels, 1 to 80 pixels a side,
// so the SIMD paths and their scalar edges both run), one line per case with a hash of the
// output. Builds for different instruction sets must print the same lines; a sanitized build
// must run clean.
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

#include "kernels/augment_cpu.h"

namespace aug = dali_mixup::kernels::augment;

int main() {
  std::mt19937 rng(1);
  aug::Scratch scratch;
  for (int trial = 0; trial < 600; trial++) {
    aug::Shape s{1 + static_cast<int>(rng() % 80), 1 + static_cast<int>(rng() % 80), rng() % 2 ? 3 : 1};
    if (trial % 7 == 0) s.h = 1 + rng() % 3;
    std::vector<uint8_t> in(s.Bytes()), out(s.Bytes());
    for (auto &v : in) v = rng() % 256;
    // One to three ops: sequences ping-pong through the scratch.
    const int count = 1 + trial % 3;
    std::vector<int> ops(count), filters(count);
    std::vector<float> levels(count);
    for (int k = 0; k < count; k++) {
      ops[k] = rng() % aug::kNumOps;
      filters[k] = rng() % 2;
      levels[k] = ops[k] == aug::kHue ? (static_cast<int>(rng() % 101) - 50) / 100.0f
                                      : (static_cast<int>(rng() % 261) - 130) / 10.0f;
    }
    const uint8_t fill[3] = {static_cast<uint8_t>(rng()), static_cast<uint8_t>(rng()), static_cast<uint8_t>(rng())};
    aug::Hparams hp{static_cast<int>(rng() % 300), (rng() % 100) / 100.0};
    aug::ApplyOps(in.data(), out.data(), s, ops.data(), levels.data(), filters.data(), count, hp, fill, scratch);
    uint64_t hash = 1469598103934665603ull;  // FNV-1a
    for (uint8_t v : out) hash = (hash ^ v) * 1099511628211ull;
    std::printf("%d %dx%dx%d %016llx\n", trial, s.h, s.w, s.c, static_cast<unsigned long long>(hash));
  }
  return 0;
}
