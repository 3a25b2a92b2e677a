// timm's RandomErasing, per image: where its boxes go (from given uniform draws, with timm's
// formulas) and what fills them (zeros, a normal value per channel and box, or a normal value
// per element from a counter-based generator), for the CPU and the GPU alike. Plain pointers
// and small structs; no DALI.
#ifndef DALI_MIXUP_KERNELS_ERASE_H_
#define DALI_MIXUP_KERNELS_ERASE_H_

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__AVX2__) && !defined(__CUDACC__)
#include <immintrin.h>
#endif

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

// The normal generator uses only +, -, *, / and sqrt (each correctly rounded by IEEE 754) on
// floats and integer operations on their bits, in a fixed order: its values are the same bits
// on every CPU instruction set, scalar or vectorized, and (FMA contraction aside) on the GPU,
// where libm's logf, sinf and cosf differ from one implementation to the next.
DALI_MIXUP_ERASE_HOST_DEV inline uint32_t FloatBits(float x) {
  uint32_t bits;
  memcpy(&bits, &x, sizeof(bits));
  return bits;
}

DALI_MIXUP_ERASE_HOST_DEV inline float BitsFloat(uint32_t bits) {
  float x;
  memcpy(&x, &bits, sizeof(x));
  return x;
}

// Bits of sqrt(1/2): a positive normal float, less its own exponent and sign, has its
// significand in [sqrt(1/2), sqrt(2)) with these subtracted first (musl's logf split).
constexpr uint32_t kSqrtHalfBits = 0x3F3504F3u;
// ln 2 in two parts: the first times any exponent (< 2^8) is exact.
constexpr float kLn2Hi = 0.693145751953125f, kLn2Lo = 1.42860676533018708e-6f;

// ln(x) for a positive normal float x = 2^e (1 + f), 1 + f in [sqrt(1/2), sqrt(2)): ln(1 + f) is
// 2 atanh(s), s = f / (2 + f), |s| < 0.172, by its series to s^9 (the next term is below 3e-9
// relative), written as f - f^2/2 + s (f^2/2 + r) (musl's logf): f, exact, carries most of the
// value, which keeps the result within 2 units in the last place.
DALI_MIXUP_ERASE_HOST_DEV inline float Log(float x) {
  const uint32_t offset = FloatBits(x) - kSqrtHalfBits;
  const int32_t exponent = static_cast<int32_t>(offset) >> 23;  // arithmetic: x < sqrt(1/2) gives < 0
  const float f = BitsFloat(FloatBits(x) - (offset & 0xFF800000u)) - 1.0f;
  const float e = static_cast<float>(exponent);
  const float s = f / (2.0f + f), z = s * s;
  const float r = z * (2.0f / 3.0f + z * (2.0f / 5.0f + z * (2.0f / 7.0f + z * (2.0f / 9.0f))));
  const float half_f2 = 0.5f * f * f;
  return (((s * (half_f2 + r) + e * kLn2Lo) - half_f2) + f) + e * kLn2Hi;
}

// cos(t) and sin(t) for |t| <= pi/4: their Taylor series to t^10 and t^9 (next terms < 2e-9).
DALI_MIXUP_ERASE_HOST_DEV inline float CosSmall(float t) {
  const float z = t * t;
  return 1.0f + z * (-1.0f / 2 + z * (1.0f / 24 + z * (-1.0f / 720 + z * (1.0f / 40320 + z * (-1.0f / 3628800)))));
}

DALI_MIXUP_ERASE_HOST_DEV inline float SinSmall(float t) {
  const float z = t * t;
  return t + t * (z * (-1.0f / 6 + z * (1.0f / 120 + z * (-1.0f / 5040 + z * (1.0f / 362880)))));
}

constexpr float kSqrtHalf = 0.70710678118654752f;
constexpr float kHalfPi = 1.57079632679489662f;

// The turn u in [0, 1) as its quarter q (0 to 3) and the angle t in [-pi/4, pi/4) from that
// quarter's middle: 2 pi u = q pi/2 + pi/4 + t. 4 u and its part past q are exact.
DALI_MIXUP_ERASE_HOST_DEV inline int Quarter(float u, float *t) {
  const int q = static_cast<int>(4.0f * u);
  *t = (4.0f * u - static_cast<float>(q) - 0.5f) * kHalfPi;
  return q;
}

// cos and sin of 2 pi u, u in [0, 1): at pi/4 + t, sqrt(1/2) (cos t -+ sin t), turned by q
// quarters (a swap and sign changes, exact).
DALI_MIXUP_ERASE_HOST_DEV inline void CosSinTurn(float u, float *cos_out, float *sin_out) {
  float t;
  const int q = Quarter(u, &t);
  const float ct = CosSmall(t), st = SinSmall(t);
  const float c = kSqrtHalf * (ct - st), s = kSqrtHalf * (ct + st);
  const float turned_c = q & 1 ? s : c, turned_s = q & 1 ? c : s;
  *cos_out = (q + 1) & 2 ? -turned_c : turned_c;  // negative in quarters 1 and 2
  *sin_out = q & 2 ? -turned_s : turned_s;        // negative in quarters 2 and 3
}

// Box-Muller: two standard normal values from two words.
DALI_MIXUP_ERASE_HOST_DEV inline void BoxMuller(uint32_t radius_bits, uint32_t angle_bits, float *a, float *b) {
  const float radius = sqrtf(-2.0f * Log(OpenUnit(radius_bits)));
  float c, s;
  CosSinTurn(OpenUnit(angle_bits), &c, &s);
  *a = radius * c;
  *b = radius * s;
}

// Four standard normal values for a counter and key.
DALI_MIXUP_ERASE_HOST_DEV inline void Normal4(Philox4 ctr, uint32_t key, uint32_t stream, float out[4]) {
  const Philox4 bits = Philox(ctr, key, stream);
  BoxMuller(bits.v[0], bits.v[1], &out[0], &out[1]);
  BoxMuller(bits.v[2], bits.v[3], &out[2], &out[3]);
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

#if !defined(__CUDACC__)
#if defined(__AVX2__)
// PixelNoise for 8 consecutive groups at once, one per 32-bit lane: the scalar functions above
// written with AVX2 intrinsics, the same operations in the same order (no FMA), so the same bits.
namespace erase_simd {

// The 32 x 32 -> 64 bit products of each lane of a and m: _mm256_mul_epu32 multiplies the
// even lanes, so the odd ones are shifted down into their places and their products back up.
inline void MulHiLo8(__m256i a, __m256i m, __m256i *hi, __m256i *lo) {
  const __m256i even = _mm256_mul_epu32(a, m), odd = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);
  *lo = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
  *hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
}

inline void Philox8(__m256i v[4], uint32_t key0, uint32_t key1) {
  const __m256i m0 = _mm256_set1_epi32(static_cast<int>(0xD2511F53u));
  const __m256i m1 = _mm256_set1_epi32(static_cast<int>(0xCD9E8D57u));
  for (int round = 0; round < 10; round++) {
    __m256i hi0, lo0, hi1, lo1;
    MulHiLo8(v[0], m0, &hi0, &lo0);
    MulHiLo8(v[2], m1, &hi1, &lo1);
    v[0] = _mm256_xor_si256(_mm256_xor_si256(hi1, v[1]), _mm256_set1_epi32(static_cast<int>(key0)));
    v[1] = lo1;
    v[2] = _mm256_xor_si256(_mm256_xor_si256(hi0, v[3]), _mm256_set1_epi32(static_cast<int>(key1)));
    v[3] = lo0;
    key0 += 0x9E3779B9u;
    key1 += 0xBB67AE85u;
  }
}

inline __m256 Set(float x) {
  return _mm256_set1_ps(x);
}

inline __m256 OpenUnit8(__m256i bits) {
  const __m256 top = _mm256_cvtepi32_ps(_mm256_srli_epi32(bits, 8));  // < 2^24: exact
  return _mm256_mul_ps(_mm256_add_ps(top, Set(0.5f)), Set(1.0f / 16777216.0f));
}

inline __m256 Log8(__m256 x) {
  const __m256i bits = _mm256_castps_si256(x);
  const __m256i offset = _mm256_sub_epi32(bits, _mm256_set1_epi32(static_cast<int>(kSqrtHalfBits)));
  const __m256 e = _mm256_cvtepi32_ps(_mm256_srai_epi32(offset, 23));
  const __m256i exponent_bits = _mm256_and_si256(offset, _mm256_set1_epi32(static_cast<int>(0xFF800000u)));
  const __m256 f = _mm256_sub_ps(_mm256_castsi256_ps(_mm256_sub_epi32(bits, exponent_bits)), Set(1.0f));
  const __m256 s = _mm256_div_ps(f, _mm256_add_ps(Set(2.0f), f)), z = _mm256_mul_ps(s, s);
  __m256 r = _mm256_add_ps(Set(2.0f / 7.0f), _mm256_mul_ps(z, Set(2.0f / 9.0f)));
  r = _mm256_add_ps(Set(2.0f / 5.0f), _mm256_mul_ps(z, r));
  r = _mm256_mul_ps(z, _mm256_add_ps(Set(2.0f / 3.0f), _mm256_mul_ps(z, r)));
  const __m256 half_f2 = _mm256_mul_ps(_mm256_mul_ps(Set(0.5f), f), f);
  __m256 sum = _mm256_add_ps(_mm256_mul_ps(s, _mm256_add_ps(half_f2, r)), _mm256_mul_ps(e, Set(kLn2Lo)));
  sum = _mm256_add_ps(_mm256_sub_ps(sum, half_f2), f);
  return _mm256_add_ps(sum, _mm256_mul_ps(e, Set(kLn2Hi)));
}

inline __m256 CosSmall8(__m256 t) {
  const __m256 z = _mm256_mul_ps(t, t);
  __m256 p = _mm256_add_ps(Set(1.0f / 40320), _mm256_mul_ps(z, Set(-1.0f / 3628800)));
  p = _mm256_add_ps(Set(-1.0f / 720), _mm256_mul_ps(z, p));
  p = _mm256_add_ps(Set(1.0f / 24), _mm256_mul_ps(z, p));
  p = _mm256_add_ps(Set(-1.0f / 2), _mm256_mul_ps(z, p));
  return _mm256_add_ps(Set(1.0f), _mm256_mul_ps(z, p));
}

inline __m256 SinSmall8(__m256 t) {
  const __m256 z = _mm256_mul_ps(t, t);
  __m256 p = _mm256_add_ps(Set(-1.0f / 5040), _mm256_mul_ps(z, Set(1.0f / 362880)));
  p = _mm256_add_ps(Set(1.0f / 120), _mm256_mul_ps(z, p));
  p = _mm256_add_ps(Set(-1.0f / 6), _mm256_mul_ps(z, p));
  return _mm256_add_ps(t, _mm256_mul_ps(t, _mm256_mul_ps(z, p)));
}

// A lane's bit 1 of q moved to the sign bit: the sign change of CosSinTurn's quarters.
inline __m256 SignOfBit1(__m256i q) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_and_si256(q, _mm256_set1_epi32(2)), 30));
}

inline void CosSinTurn8(__m256 u, __m256 *cos_out, __m256 *sin_out) {
  const __m256 four_u = _mm256_mul_ps(Set(4.0f), u);
  const __m256i q = _mm256_cvttps_epi32(four_u);
  const __m256 part = _mm256_sub_ps(_mm256_sub_ps(four_u, _mm256_cvtepi32_ps(q)), Set(0.5f));
  const __m256 t = _mm256_mul_ps(part, Set(kHalfPi));
  const __m256 ct = CosSmall8(t), st = SinSmall8(t);
  const __m256 c = _mm256_mul_ps(Set(kSqrtHalf), _mm256_sub_ps(ct, st));
  const __m256 s = _mm256_mul_ps(Set(kSqrtHalf), _mm256_add_ps(ct, st));
  const __m256i one = _mm256_set1_epi32(1);
  const __m256 odd = _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(q, one), one));
  *cos_out = _mm256_xor_ps(_mm256_blendv_ps(c, s, odd), SignOfBit1(_mm256_add_epi32(q, one)));
  *sin_out = _mm256_xor_ps(_mm256_blendv_ps(s, c, odd), SignOfBit1(q));
}

inline void BoxMuller8(__m256i radius_bits, __m256i angle_bits, __m256 *a, __m256 *b) {
  const __m256 radius = _mm256_sqrt_ps(_mm256_mul_ps(Set(-2.0f), Log8(OpenUnit8(radius_bits))));
  __m256 c, s;
  CosSinTurn8(OpenUnit8(angle_bits), &c, &s);
  *a = _mm256_mul_ps(radius, c);
  *b = _mm256_mul_ps(radius, s);
}

// Lane i of n[k] to out[4 * i + k]: each group's 4 values together, as PixelNoise writes them.
inline void StoreGroups8(const __m256 n[4], float *out) {
  const __m256 n01_lo = _mm256_unpacklo_ps(n[0], n[1]), n01_hi = _mm256_unpackhi_ps(n[0], n[1]);
  const __m256 n23_lo = _mm256_unpacklo_ps(n[2], n[3]), n23_hi = _mm256_unpackhi_ps(n[2], n[3]);
  // Groups (0, 4), (1, 5), (2, 6), (3, 7): one per 128-bit half.
  const __m256 g04 = _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(n01_lo), _mm256_castps_pd(n23_lo)));
  const __m256 g15 = _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(n01_lo), _mm256_castps_pd(n23_lo)));
  const __m256 g26 = _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(n01_hi), _mm256_castps_pd(n23_hi)));
  const __m256 g37 = _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(n01_hi), _mm256_castps_pd(n23_hi)));
  _mm256_storeu_ps(out, _mm256_permute2f128_ps(g04, g15, 0x20));
  _mm256_storeu_ps(out + 8, _mm256_permute2f128_ps(g26, g37, 0x20));
  _mm256_storeu_ps(out + 16, _mm256_permute2f128_ps(g04, g15, 0x31));
  _mm256_storeu_ps(out + 24, _mm256_permute2f128_ps(g26, g37, 0x31));
}

// PixelNoise of groups first .. first + 7 into out[0 .. 31].
inline void PixelNoise8(uint32_t key, int slot, int c, int dy, int first, float *out) {
  __m256i v[4] = {_mm256_add_epi32(_mm256_set1_epi32(first), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)),
                  _mm256_set1_epi32(dy), _mm256_set1_epi32(c), _mm256_set1_epi32(slot)};
  Philox8(v, key, kPixelStream);
  __m256 n[4];
  BoxMuller8(v[0], v[1], &n[0], &n[1]);
  BoxMuller8(v[2], v[3], &n[2], &n[3]);
  StoreGroups8(n, out);
}

}  // namespace erase_simd
#endif  // __AVX2__

// "pixel" on the CPU: PixelNoise of groups 0 .. groups - 1 of a box row, one after the other
// in out[0 .. 4 * groups - 1]; 8 groups at a time where AVX2 is there, the same bits.
inline void PixelNoiseRow(uint32_t key, int slot, int c, int dy, int groups, float *out) {
  int group = 0;
#if defined(__AVX2__)
  for (; group + 8 <= groups; group += 8) erase_simd::PixelNoise8(key, slot, c, dy, group, out + 4 * group);
  if (group < groups) {  // the last few groups: a whole block, of which only they are kept
    float block[32];
    erase_simd::PixelNoise8(key, slot, c, dy, group, block);
    memcpy(out + 4 * group, block, (groups - group) * 4 * sizeof(float));
  }
#else
  for (; group < groups; group++) PixelNoise(key, slot, c, dy, group, out + 4 * group);
#endif
}
#endif  // !__CUDACC__

}  // namespace kernels
}  // namespace dali_mixup

#endif  // DALI_MIXUP_KERNELS_ERASE_H_
