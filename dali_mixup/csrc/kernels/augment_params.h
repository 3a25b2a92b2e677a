// RandAugment / AutoAugment operations: their codes, timm's level -> parameter mapping
// (timm/data/auto_augment.py, `*_level_to_arg`) and Pillow's affine matrices, shared by host and
// device code. Levels arrive with timm's random sign already applied, so the signed formulas
// are timm's own with the sign drawn as given. All arithmetic in double, in timm's order.
#ifndef DALI_MIXUP_KERNELS_AUGMENT_PARAMS_H_
#define DALI_MIXUP_KERNELS_AUGMENT_PARAMS_H_

#include <cmath>

#ifdef __CUDACC__
#define DALI_MIXUP_HD __host__ __device__
#else
#define DALI_MIXUP_HD
#endif

namespace dali_mixup {
namespace kernels {
namespace augment {

// Must match dali_mixup.augment_ops.Op.
enum Op : int {
  kIdentity = 0,
  kAutoContrast,
  kEqualize,
  kInvert,
  kRotate,
  kPosterize,
  kPosterizeIncreasing,
  kPosterizeOriginal,
  kSolarize,
  kSolarizeIncreasing,
  kSolarizeAdd,
  kColor,
  kColorIncreasing,
  kContrast,
  kContrastIncreasing,
  kBrightness,
  kBrightnessIncreasing,
  kSharpness,
  kSharpnessIncreasing,
  kShearX,
  kShearY,
  kTranslateX,
  kTranslateY,
  kTranslateXRel,
  kTranslateYRel,
  // Raw codes: the level is the parameter.
  kBrightnessFactor,
  kContrastFactor,
  kColorFactor,
  kSharpnessFactor,
  kHue,
  kRotateDegrees,
  kShearXFactor,
  kShearYFactor,
  kTranslateXPixels,
  kTranslateYPixels,
  kPosterizeBits,
  kSolarizeThreshold,
  kNumOps
};

// timm's hparams that the level functions read.
struct Hparams {
  int translate_const = 100;
  double translate_pct = 0.45;
};

// What the pixel kernels do for an op.
enum class Kind : int {
  kCopy,          // the image unchanged
  kAutoContrast,  // per-band LUT from the histogram
  kEqualize,      // per-band LUT from the histogram
  kInvert,
  kPosterize,     // value: bits kept
  kSolarize,      // value: threshold
  kSolarizeAdd,   // value: added below 128
  kBrightness,    // value: blend factor with black
  kContrast,      // value: blend factor with the mean grey
  kColor,         // value: blend factor with the grey image
  kSharpness,     // value: blend factor with the smoothed image
  kHue,           // value: hue factor
  kAffine,        // matrix: Pillow's output -> input map
  kTranspose,     // value: 90, 180 or 270, Pillow's rotate shortcut (Image.transpose)
};

struct OpParams {
  Kind kind = Kind::kCopy;
  double value = 0.0;
  double matrix[6] = {1, 0, 0, 0, 1, 0};
};

inline constexpr double kLevelDenom = 10.0;

DALI_MIXUP_HD inline double RotateArg(double level) { return (level / kLevelDenom) * 30.; }
DALI_MIXUP_HD inline double EnhanceArg(double level) { return (level / kLevelDenom) * 1.8 + 0.1; }
DALI_MIXUP_HD inline double EnhanceIncreasingArg(double level) {
  const double v = 1.0 + (level / kLevelDenom) * .9;
  return 0.1 >= v ? 0.1 : v;  // Python's max(0.1, v)
}
DALI_MIXUP_HD inline double ShearArg(double level) { return (level / kLevelDenom) * 0.3; }
DALI_MIXUP_HD inline double TranslateAbsArg(double level, int translate_const) {
  return (level / kLevelDenom) * static_cast<double>(translate_const);
}
DALI_MIXUP_HD inline double TranslateRelArg(double level, double pct) { return (level / kLevelDenom) * pct; }

// Python's int(): truncation toward zero, kept in double (levels may be huge).
DALI_MIXUP_HD inline double PyInt(double v) { return trunc(v); }
DALI_MIXUP_HD inline double PyMin(double a, double b) { return b < a ? b : a; }

DALI_MIXUP_HD inline double PosterizeArg(double level) { return PyInt((level / kLevelDenom) * 4); }
DALI_MIXUP_HD inline double PosterizeIncreasingArg(double level) { return 4 - PosterizeArg(level); }
DALI_MIXUP_HD inline double PosterizeOriginalArg(double level) { return PyInt((level / kLevelDenom) * 4) + 4; }
DALI_MIXUP_HD inline double SolarizeArg(double level) { return PyMin(256, PyInt((level / kLevelDenom) * 256)); }
DALI_MIXUP_HD inline double SolarizeIncreasingArg(double level) { return 256 - SolarizeArg(level); }
DALI_MIXUP_HD inline double SolarizeAddArg(double level) { return PyMin(128, PyInt((level / kLevelDenom) * 110)); }

DALI_MIXUP_HD inline void SetMatrix(OpParams &p, double a, double b, double c, double d, double e, double f) {
  p.kind = Kind::kAffine;
  p.matrix[0] = a, p.matrix[1] = b, p.matrix[2] = c;
  p.matrix[3] = d, p.matrix[4] = e, p.matrix[5] = f;
}

// Python's float % 360.0: the result takes the divisor's sign.
DALI_MIXUP_HD inline double PyMod360(double angle) {
  double m = fmod(angle, 360.0);
  if (m != 0.0 && m < 0.0) m += 360.0;
  return m == 0.0 ? 0.0 : m;
}

// Pillow's Image.rotate(degrees): its shortcuts (transposes) or its matrix (no expand, centre
// w/2, h/2); round(v, 15) done by the caller's `round15` (host: through decimal text, as Python).
template <typename Round15>
DALI_MIXUP_HD inline void Rotate(OpParams &p, double degrees, int w, int h, Round15 round15) {
  const double m = PyMod360(degrees);
  if (m == 0.0) return;
  if (m == 180.0 || ((m == 90.0 || m == 270.0) && w == h)) {
    p.kind = Kind::kTranspose;
    p.value = m;
    return;
  }
  const double angle = -(m * (M_PI / 180.0));  // math.radians
  const double c = round15(cos(angle)), s = round15(sin(angle)), ns = round15(-sin(angle));
  const double cx = w / 2.0, cy = h / 2.0;
  // matrix[2], matrix[5] = transform(-cx, -cy, matrix), then + centre
  const double tx = c * -cx + s * -cy + 0.0;
  const double ty = ns * -cx + c * -cy + 0.0;
  SetMatrix(p, c, s, tx + cx, ns, c, ty + cy);
}

// An op's parameters for an image of w x h from its level; p stays kCopy for no-ops.
template <typename Round15>
DALI_MIXUP_HD inline OpParams Resolve(int op, double level, int w, int h, const Hparams &hp, Round15 round15) {
  OpParams p;
  auto set = [&p](Kind kind, double value) { p.kind = kind, p.value = value; };
  switch (op) {
    case kAutoContrast: set(Kind::kAutoContrast, 0); break;
    case kEqualize: set(Kind::kEqualize, 0); break;
    case kInvert: set(Kind::kInvert, 0); break;
    case kRotate: Rotate(p, RotateArg(level), w, h, round15); break;
    case kPosterize: set(Kind::kPosterize, PosterizeArg(level)); break;
    case kPosterizeIncreasing: set(Kind::kPosterize, PosterizeIncreasingArg(level)); break;
    case kPosterizeOriginal: set(Kind::kPosterize, PosterizeOriginalArg(level)); break;
    case kSolarize: set(Kind::kSolarize, SolarizeArg(level)); break;
    case kSolarizeIncreasing: set(Kind::kSolarize, SolarizeIncreasingArg(level)); break;
    case kSolarizeAdd: set(Kind::kSolarizeAdd, SolarizeAddArg(level)); break;
    case kColor: set(Kind::kColor, EnhanceArg(level)); break;
    case kColorIncreasing: set(Kind::kColor, EnhanceIncreasingArg(level)); break;
    case kContrast: set(Kind::kContrast, EnhanceArg(level)); break;
    case kContrastIncreasing: set(Kind::kContrast, EnhanceIncreasingArg(level)); break;
    case kBrightness: set(Kind::kBrightness, EnhanceArg(level)); break;
    case kBrightnessIncreasing: set(Kind::kBrightness, EnhanceIncreasingArg(level)); break;
    case kSharpness: set(Kind::kSharpness, EnhanceArg(level)); break;
    case kSharpnessIncreasing: set(Kind::kSharpness, EnhanceIncreasingArg(level)); break;
    case kShearX: SetMatrix(p, 1, ShearArg(level), 0, 0, 1, 0); break;
    case kShearY: SetMatrix(p, 1, 0, 0, ShearArg(level), 1, 0); break;
    case kTranslateX: SetMatrix(p, 1, 0, TranslateAbsArg(level, hp.translate_const), 0, 1, 0); break;
    case kTranslateY: SetMatrix(p, 1, 0, 0, 0, 1, TranslateAbsArg(level, hp.translate_const)); break;
    case kTranslateXRel: SetMatrix(p, 1, 0, TranslateRelArg(level, hp.translate_pct) * w, 0, 1, 0); break;
    case kTranslateYRel: SetMatrix(p, 1, 0, 0, 0, 1, TranslateRelArg(level, hp.translate_pct) * h); break;
    case kBrightnessFactor: set(Kind::kBrightness, level); break;
    case kContrastFactor: set(Kind::kContrast, level); break;
    case kColorFactor: set(Kind::kColor, level); break;
    case kSharpnessFactor: set(Kind::kSharpness, level); break;
    case kHue: set(Kind::kHue, level); break;
    case kRotateDegrees: Rotate(p, level, w, h, round15); break;
    case kShearXFactor: SetMatrix(p, 1, level, 0, 0, 1, 0); break;
    case kShearYFactor: SetMatrix(p, 1, 0, 0, level, 1, 0); break;
    case kTranslateXPixels: SetMatrix(p, 1, 0, level, 0, 1, 0); break;
    case kTranslateYPixels: SetMatrix(p, 1, 0, 0, 0, 1, level); break;
    case kPosterizeBits: set(Kind::kPosterize, PyInt(level)); break;
    case kSolarizeThreshold: set(Kind::kSolarize, level); break;
    default: break;  // kIdentity
  }
  return p;
}

}  // namespace augment
}  // namespace kernels
}  // namespace dali_mixup

#endif  // DALI_MIXUP_KERNELS_AUGMENT_PARAMS_H_
