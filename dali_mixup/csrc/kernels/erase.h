// timm's RandomErasing, per image: where its boxes go (from given uniform draws, with timm's
// formulas) and what fills them (zeros, a normal value per channel and box, or a normal value
// per element from a counter-based generator), for the CPU and the GPU alike. Plain pointers
// and small structs; no DALI.
#ifndef DALI_MIXUP_KERNELS_ERASE_H_
#define DALI_MIXUP_KERNELS_ERASE_H_

#include <math.h>
#include <stdint.h>

#if defined(__CUDACC__)
#define DALI_MIXUP_ERASE_HOST_DEV __host__ __device__
#else
#define DALI_MIXUP_ERASE_HOST_DEV
#endif

namespace dali_mixup {
namespace kernels {

// timm tries up to 10 times per box; each try takes 4 uniforms: area, log-aspect, top, left.
constexpr int kEraseAttempts = 10;
constexpr int kEraseDraws = 4;

enum EraseMode : int { kEraseConst = 0, kEraseRand = 1, kErasePixel = 2 };

// timm's ranges, in double as its Python floats: area as a fraction of the image, aspect
// (height / width) as the log of its bounds.
struct EraseRanges {
  double min_area, max_area, log_aspect_lo, log_aspect_hi;
};

struct EraseBox {
  int top, left, height, width;
};

// An image's sizes and layout: element (c, y, x) at c * c_stride + y * y_stride + x * x_stride.
struct EraseGeometry {
  int64_t c_stride, y_stride, x_stride;
  int channels;
};

DALI_MIXUP_ERASE_HOST_DEV inline EraseGeometry MakeEraseGeometry(int H, int W, int C, bool chw) {
  if (chw) return {static_cast<int64_t>(H) * W, W, 1, C};
  return {1, static_cast<int64_t>(W) * C, C, C};
}

// Python's random.uniform(a, b) for the draw u = random.random().
DALI_MIXUP_ERASE_HOST_DEV inline double Uniform(double a, double b, float u) {
  return a + (b - a) * static_cast<double>(u);
}

// Python's random.randint(0, n) for a uniform u in [0, 1]: each of the n + 1 values alike
// (u = 1, which float rounding can give, counts as the last).
DALI_MIXUP_ERASE_HOST_DEV inline int RandInt(int n, float u) {
  const int k = static_cast<int>(floor(static_cast<double>(u) * (n + 1)));
  return k < n ? k : n;
}

// Python's int(round(x)) for x >= 0: halves to even (rint in the default rounding mode).
DALI_MIXUP_ERASE_HOST_DEV inline int RoundHalfEven(double x) {
  return static_cast<int>(rint(x));
}

// Box `box` of `count` in an H x W image, from its kEraseAttempts * kEraseDraws uniforms:
// timm's _erase loop. False where no attempt fits (nothing is erased then). A placed box
// may be empty (a side rounds to 0), as in timm.
DALI_MIXUP_ERASE_HOST_DEV inline bool ChooseBox(const float *draws, int count, int H, int W,
                                                const EraseRanges &r, EraseBox *box) {
  const double area = static_cast<double>(H) * W;
  for (int attempt = 0; attempt < kEraseAttempts; attempt++) {
    const float *u = draws + attempt * kEraseDraws;
    // Python evaluates uniform(...) * area / count left to right.
    const double target_area = Uniform(r.min_area, r.max_area, u[0]) * area / count;
    const double aspect = exp(Uniform(r.log_aspect_lo, r.log_aspect_hi, u[1]));
    const int h = RoundHalfEven(sqrt(target_area * aspect));
    const int w = RoundHalfEven(sqrt(target_area / aspect));
    if (w < W && h < H) {
      *box = {RandInt(H - h, u[2]), RandInt(W - w, u[3]), h, w};
      return true;
    }
  }
  return false;
}

// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3"): four
// independent 32-bit words for each counter and key, with no state to carry between threads.
struct Philox4 {
  uint32_t v[4];
};

DALI_MIXUP_ERASE_HOST_DEV inline void MulHiLo(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *lo) {
  const uint64_t product = static_cast<uint64_t>(a) * b;
  *hi = static_cast<uint32_t>(product >> 32);
  *lo = static_cast<uint32_t>(product);
}

DALI_MIXUP_ERASE_HOST_DEV inline Philox4 Philox(Philox4 ctr, uint32_t key0, uint32_t key1) {
  for (int round = 0; round < 10; round++) {
    uint32_t hi0, lo0, hi1, lo1;
    MulHiLo(0xD2511F53u, ctr.v[0], &hi0, &lo0);
    MulHiLo(0xCD9E8D57u, ctr.v[2], &hi1, &lo1);
    ctr = {{hi1 ^ ctr.v[1] ^ key0, lo1, hi0 ^ ctr.v[3] ^ key1, lo0}};
    key0 += 0x9E3779B9u;
    key1 += 0xBB67AE85u;
  }
  return ctr;
}

// A word's top 24 bits as a float in (0, 1): never 0, so its log is finite.
DALI_MIXUP_ERASE_HOST_DEV inline float OpenUnit(uint32_t bits) {
  return (static_cast<float>(bits >> 8) + 0.5f) * (1.0f / 16777216.0f);
}

// Four standard normal values (Box-Muller on two pairs of uniforms) for a counter and key.
DALI_MIXUP_ERASE_HOST_DEV inline void Normal4(Philox4 ctr, uint32_t key, uint32_t stream, float out[4]) {
  const Philox4 bits = Philox(ctr, key, stream);
  for (int pair = 0; pair < 2; pair++) {
    const float radius = sqrtf(-2.0f * logf(OpenUnit(bits.v[2 * pair])));
    const float angle = 6.2831853071795864f * OpenUnit(bits.v[2 * pair + 1]);
    out[2 * pair] = radius * cosf(angle);
    out[2 * pair + 1] = radius * sinf(angle);
  }
}

// Separate streams (Philox's second key word) for the two kinds of noise.
constexpr uint32_t kColorStream = 1;
constexpr uint32_t kPixelStream = 2;

// "rand": the normal value that fills channel c of box `slot` (its place among the image's
// boxes) of the image seeded by `key`.
DALI_MIXUP_ERASE_HOST_DEV inline float BoxColor(uint32_t key, int slot, int c) {
  float n[4];
  Normal4({{0u, 0u, static_cast<uint32_t>(c), static_cast<uint32_t>(slot)}}, key, kColorStream, n);
  return n[0];
}

// "pixel": the normal values of elements (c, dy, 4 * group .. 4 * group + 3) of box `slot`,
// positions relative to the box: the same values in HWC and CHW.
DALI_MIXUP_ERASE_HOST_DEV inline void PixelNoise(uint32_t key, int slot, int c, int dy, int group, float out[4]) {
  Normal4({{static_cast<uint32_t>(group), static_cast<uint32_t>(dy), static_cast<uint32_t>(c),
                static_cast<uint32_t>(slot)}},
              key, kPixelStream, out);
}

// Fills up to 4 elements (c, dy, 4 * group ...) of the box in `image`: the box's `color`, or in
// pixel mode their own noise. `store` turns a float into Out.
template <typename Out, typename Store>
DALI_MIXUP_ERASE_HOST_DEV inline void FillGroup(Out *image, const EraseGeometry &g, const EraseBox &b, int slot,
                                                int mode, uint32_t key, float color, int c, int dy, int group,
                                                Store store) {
  float values[4] = {color, color, color, color};
  if (mode == kErasePixel) PixelNoise(key, slot, c, dy, group, values);
  const int first = 4 * group, last = first + 4 < b.width ? first + 4 : b.width;
  Out *row = image + c * g.c_stride + (b.top + dy) * g.y_stride + b.left * g.x_stride;
  for (int dx = first; dx < last; dx++) row[dx * g.x_stride] = store(values[dx - first]);
}

// Element groups of 4 along a box row: the unit of work of both devices.
DALI_MIXUP_ERASE_HOST_DEV inline int RowGroups(int width) {
  return (width + 3) / 4;
}

}  // namespace kernels
}  // namespace dali_mixup

#endif  // DALI_MIXUP_KERNELS_ERASE_H_
