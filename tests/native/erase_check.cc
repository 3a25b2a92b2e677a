// The "pixel" noise generator of kernels/erase.h without a pipeline, for tests/test_kernels.py.
//   erase_check          rows of every width from PixelNoiseRow (vectorized where the build
//                        allows) against PixelNoise per group, bit for bit; prints a hash of
//                        their bytes, which must be the same for every instruction set
//   erase_check math     raw float32 quadruples u, Log(u), cos 2 pi u, sin 2 pi u for a grid of
//                        the generator's uniforms, to compare with numpy
//   erase_check normals  raw float32 values of consecutive rows, for their statistics
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "kernels/erase.h"

namespace k = dali_mixup::kernels;

namespace {

uint64_t Fnv(uint64_t hash, const void *data, size_t bytes) {
  const unsigned char *p = static_cast<const unsigned char *>(data);
  for (size_t i = 0; i < bytes; i++) hash = (hash ^ p[i]) * 1099511628211ull;
  return hash;
}

int Rows() {
  uint64_t hash = 14695981039346656037ull;
  int rows = 0;
  for (uint32_t key : {0u, 1u, 0xDEADBEEFu, 0xFFFFFFFFu})
    for (int groups = 1; groups <= 41; groups++)
      for (int slot = 0; slot < 2; slot++)
        for (int c = 0; c < 3; c++)
          for (int dy = 0; dy < 3; dy++) {
            std::vector<float> row(4 * groups), each(4 * groups);
            k::PixelNoiseRow(key, slot, c, dy, groups, row.data());
            for (int group = 0; group < groups; group++) k::PixelNoise(key, slot, c, dy, group, &each[4 * group]);
            if (std::memcmp(row.data(), each.data(), row.size() * sizeof(float)) != 0) {
              std::printf("key %u groups %d slot %d c %d dy %d: the row differs from its groups\n", key, groups,
                          slot, c, dy);
              return 1;
            }
            hash = Fnv(hash, row.data(), row.size() * sizeof(float));
            rows++;
          }
  std::printf("%d rows %016llx\n", rows, static_cast<unsigned long long>(hash));
  return 0;
}

int Math() {
  // Every 7th of the 2^24 uniforms OpenUnit gives, and its ends.
  for (uint32_t top = 0; top < (1u << 24); top += top + 7 < (1u << 24) ? 7 : 1) {
    float q[4];
    q[0] = k::OpenUnit(top << 8);
    q[1] = k::Log(q[0]);
    k::CosSinTurn(q[0], &q[2], &q[3]);
    std::fwrite(q, sizeof(float), 4, stdout);
  }
  return 0;
}

int Normals() {
  // 1000 rows of 250 groups: 10^6 values.
  std::vector<float> row(4 * 250);
  for (int dy = 0; dy < 1000; dy++) {
    k::PixelNoiseRow(12345u, 0, 1, dy, 250, row.data());
    std::fwrite(row.data(), sizeof(float), row.size(), stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char **argv) {
  if (argc > 1 && std::strcmp(argv[1], "math") == 0) return Math();
  if (argc > 1 && std::strcmp(argv[1], "normals") == 0) return Normals();
  return Rows();
}
