// The arithmetic of one output pixel, shared by the CPU loops (mix_cpu.h) and the CUDA kernel
// (mix_gpu.cuh), so that both devices compute the same values: a copy or a blend of two pixels
// with the normalization folded into the weights, then a saturating store.
//
// Every product and sum is rounded on its own (no fused multiply-add): on the host the build
// passes -ffp-contract=off, on the device the _rn intrinsics say so.
#ifndef DALI_MIXUP_KERNELS_BLEND_H_
#define DALI_MIXUP_KERNELS_BLEND_H_

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "dali/core/float16.h"
#include "mix_params.h"

#if defined(__CUDACC__)
#define DALI_MIXUP_HOST_DEV __host__ __device__
#else
#define DALI_MIXUP_HOST_DEV
#endif

namespace dali_mixup {
namespace kernels {

// The batch's image geometry: every image has the same shape.
struct Geometry {
  int64_t H = 0, W = 0;
  int C = 0;
  bool in_chw = false, out_chw = false;
};

// Per-channel normalization (scale = 1 / std, bias = -mean / std), or none (empty).
struct Normalization {
  const float *scale = nullptr, *bias = nullptr;  // C values each, or null: scale 1, bias 0
  bool normalizes() const { return scale != nullptr; }
  float Scale(int c) const { return scale ? scale[c] : 1.0f; }
  float Bias(int c) const { return bias ? bias[c] : 0.0f; }
};

DALI_MIXUP_HOST_DEV inline float Mul(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}

DALI_MIXUP_HOST_DEV inline float Add(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}

// Weights of one channel: out = own * w.own (+ other * w.other) + w.bias. Normalizing,
// (v - mean) / std == v * scale + bias with scale = 1 / std, bias = -mean * scale.
struct Affine {
  float own, other, bias;
};

// A sample's weights for channel c: Mixup's `weight` of its own image, normalized by
// (scale, bias) (1, 0 without normalization). A copy takes weight 1.
DALI_MIXUP_HOST_DEV inline Affine ChannelWeights(float weight, float scale, float bias) {
  return {Mul(weight, scale), Mul(1.0f - weight, scale), bias};
}

DALI_MIXUP_HOST_DEV inline float CopyValue(float own, const Affine &w) {
  return Add(Mul(own, w.own), w.bias);
}

DALI_MIXUP_HOST_DEV inline float BlendValue(float own, float other, const Affine &w) {
  return Add(Add(Mul(own, w.own), Mul(other, w.other)), w.bias);
}

// float32 to IEEE half bits, rounded to nearest even, in integer arithmetic (DALI's host
// float16 rounds ties away from zero; CUDA's __float2half and numpy round them to even).
// NaN stays NaN, 65520 and more become Inf.
inline uint16_t HalfBitsRounded(float value) {
  uint32_t x;
  std::memcpy(&x, &value, sizeof(x));
  const uint32_t sign = (x >> 16) & 0x8000u, abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u) return static_cast<uint16_t>(sign | (abs > 0x7f800000u ? 0x7e00u : 0x7c00u));
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);
  uint32_t bits, rest, halfway;
  if (abs >= 0x38800000u) {  // a normal half: rebias the exponent, drop 13 bits
    bits = (abs - 0x38000000u) >> 13;
    rest = abs & 0x1fffu;
    halfway = 0x1000u;
  } else {  // a subnormal half (units of 2^-24) or zero
    const int shift = 126 - static_cast<int>(abs >> 23);
    if (shift > 24) return static_cast<uint16_t>(sign);  // below 2^-25
    const uint32_t mantissa = (abs & 0x7fffffu) | 0x800000u;
    bits = mantissa >> shift;
    rest = mantissa & ((1u << shift) - 1);
    halfway = 1u << (shift - 1);
  }
  if (rest > halfway || (rest == halfway && (bits & 1u))) bits++;  // a carry may reach Inf: right
  return static_cast<uint16_t>(sign | bits);
}

// The same, through the CPU's own conversion where the compiler has one (it vectorizes).
inline uint16_t HalfBits(float value) {
#if defined(__FLT16_MANT_DIG__) && !defined(__CUDACC__)
  const _Float16 half = static_cast<_Float16>(value);
  uint16_t bits;
  std::memcpy(&bits, &half, sizeof(bits));
  return bits;
#else
  return HalfBitsRounded(value);
#endif
}

// float32 to the output type: uint8 rounded half to even (as numpy's rint) and saturated,
// NaN to 0; float16 rounded to nearest even on both devices.
template <typename Out>
DALI_MIXUP_HOST_DEV inline Out Store(float v) {
  if constexpr (std::is_same_v<Out, uint8_t>) {
    const float low = v > 0.0f ? v : 0.0f;
    return static_cast<uint8_t>(rintf(low < 255.0f ? low : 255.0f));
  } else if constexpr (std::is_same_v<Out, dali::float16>) {
#if defined(__CUDA_ARCH__)
    return static_cast<Out>(v);  // __float2half: to nearest even
#else
    const uint16_t bits = HalfBits(v);
    Out out;
    std::memcpy(&out, &bits, sizeof(bits));
    return out;
#endif
  } else {
    return static_cast<Out>(v);
  }
}

// A pixel's value as float32.
template <typename In>
DALI_MIXUP_HOST_DEV inline float Load(In v) {
  return static_cast<float>(v);
}

// Whether pixel (y, x) lies in the box (top, left, height, width).
DALI_MIXUP_HOST_DEV inline bool InBox(const int *box, int64_t y, int64_t x) {
  return y >= box[0] && y < box[0] + box[2] && x >= box[1] && x < box[1] + box[3];
}

// Every channel of output pixel k (= y * W + x) of one image, as sample `p` says: the own
// pixel, the partner's inside the CutMix box, or their blend. The GPU kernel's body; the CPU
// loops compute the same values row by row. Index: the integer type of element offsets.
// scale, bias: C values each, or null (no normalization).
template <typename Index, typename In, typename Out>
DALI_MIXUP_HOST_DEV inline void MixPixel(const In *own, const In *other, Out *out, const Sample &p,
                                         const Geometry &g, const float *scale, const float *bias,
                                         Index k) {
  const Index W = static_cast<Index>(g.W), C = static_cast<Index>(g.C);
  const Index pixels = static_cast<Index>(g.H) * W;
  const Index y = k / W, x = k - y * W;
  const bool blends = !p.cut && p.weight != 1.0f;
  const In *source = p.cut && InBox(p.box, y, x) ? other : own;
  for (Index c = 0; c < C; c++) {
    const float s = scale ? scale[c] : 1.0f, b = bias ? bias[c] : 0.0f;
    const Index in = g.in_chw ? c * pixels + k : k * C + c;
    const Index at = g.out_chw ? c * pixels + k : k * C + c;
    const float v = blends ? BlendValue(Load(own[in]), Load(other[in]), ChannelWeights(p.weight, s, b))
                           : CopyValue(Load(source[in]), ChannelWeights(1.0f, s, b));
    out[at] = Store<Out>(v);
  }
}

}  // namespace kernels
}  // namespace dali_mixup

#endif  // DALI_MIXUP_KERNELS_BLEND_H_
