// What the augment kernels share: an image's shape, a pool thread's scratch, Pillow's
// clipping, Image.blend's arithmetic and RGB -> L. Knows nothing of DALI.
#ifndef DALI_MIXUP_KERNELS_AUGMENT_COMMON_H_
#define DALI_MIXUP_KERNELS_AUGMENT_COMMON_H_

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace dali_mixup {
namespace kernels {
namespace augment {

struct Shape {
  int h, w, c;
  int64_t Bytes() const { return static_cast<int64_t>(h) * w * c; }
};

enum class Resample : int { kBilinear = 0, kBicubic = 1 };

// Buffers of one pool thread, reused from image to image.
struct Scratch {
  std::vector<uint8_t> ping, pong;   // between ops
  std::vector<double> col_a0, col_a3;  // the affine matrix's a0 * x and a3 * x per column
};

using Lut = std::array<uint8_t, 256>;

// Python's round(v, 15): the correctly rounded decimal text, read back.
inline double Round15(double v) {
  char text[64];
  std::snprintf(text, sizeof(text), "%.15f", v);
  return std::strtod(text, nullptr);
}

// Pillow's point(): LUT entries clipped to uint8.
inline uint8_t Clip8(double v) { return static_cast<uint8_t>(v <= 0 ? 0 : v < 256 ? v : 255); }

// Clipped to [0, 255] and truncated, as Blend.c and Filter.c's clip8 store; branch-free, so
// that the loops vectorize.
inline uint8_t Sat8(float v) { return static_cast<uint8_t>(static_cast<int>(std::min(std::max(v, 0.0f), 255.0f))); }

// Image.blend(in1, in2, alpha) for one value: Blend.c in float.
inline uint8_t Blend(int in1, int in2, float alpha) {
  return Sat8(static_cast<float>(in1) + alpha * static_cast<float>(in2 - in1));
}

// Pillow's RGB -> L.
inline int Luma(const uint8_t *rgb) { return (rgb[0] * 19595 + rgb[1] * 38470 + rgb[2] * 7471 + 0x8000) >> 16; }

}  // namespace augment
}  // namespace kernels
}  // namespace dali_mixup

#endif  // DALI_MIXUP_KERNELS_AUGMENT_COMMON_H_
