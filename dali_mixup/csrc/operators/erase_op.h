// DaliMixupErase, shared by both backends: timm's RandomErasing on a batch of float images
// (kernels/erase.h). Arguments, input checks and every sample's boxes are read and chosen here,
// on the host, for the CPU (erase_op.cc) and the GPU (erase_op.cu) alike; only the fills differ.
//
// Randomness comes from DALI's seeded operators, given as inputs; the operator has no state.
//
// Inputs: images (float32 or float16, 3-D, HWC or CHW, any shapes; CPU, or GPU for the GPU
// backend), then on the CPU, per sample: count (int32 scalar: boxes to place, 0 = none), draws
// (float32 (max_count, 10, 4) uniforms in [0, 1]: area, log-aspect, top, left per attempt of
// each box), key (int32 or uint32 scalar: seeds the noise of "rand" and "pixel").
// Output, on the images' device: the images with the boxes filled; same shapes, type, layout.
#ifndef DALI_MIXUP_OPERATORS_ERASE_OP_H_
#define DALI_MIXUP_OPERATORS_ERASE_OP_H_

#include <cmath>
#include <cstdint>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "../common/checks.h"
#include "arguments.h"
#include "../kernels/blend.h"
#include "../kernels/erase.h"
#include "dali/pipeline/operator/checkpointing/stateless_operator.h"
#include "dali/pipeline/operator/operator.h"

namespace dali_mixup {

using dali::CPUBackend;
using dali::DALIDataType;
using dali::TensorList;

// A box to fill and its place among its image's boxes (which keys its noise).
struct PlacedBox {
  kernels::EraseBox box;
  int slot;
};

// One image's erasing: its boxes in the order they are filled (a later one overwrites an
// earlier one where they overlap, as in timm), its noise key and its geometry.
struct ErasePlan {
  std::vector<PlacedBox> boxes;
  uint32_t key;
  kernels::EraseGeometry geometry;
};

// float to the image's type: blend.h's Store (float16 rounded to nearest even on both devices).
template <typename Out>
struct StoreAs {
  DALI_MIXUP_HOST_DEV Out operator()(float v) const { return kernels::Store<Out>(v); }
};

inline std::string Number(double value) {
  std::ostringstream text;
  text << value;
  return text.str();
}

inline kernels::EraseRanges ReadRanges(const dali::OpSpec &spec) {
  const double min_area = DecimalArgument(spec, "erase", "min_area"), max_area = DecimalArgument(spec, "erase", "max_area");
  const double min_aspect = DecimalArgument(spec, "erase", "min_aspect"), max_aspect = DecimalArgument(spec, "erase", "max_aspect");
  if (!(0 <= min_area && min_area <= max_area))
    FailType("erase: min_area", "expected 0 <= min_area <= max_area, got " + Number(min_area) + " and " + Number(max_area));
  if (!(0 < min_aspect && min_aspect <= max_aspect))
    FailType("erase: min_aspect", "expected 0 < min_aspect <= max_aspect, got " + Number(min_aspect) + " and " +
                                      Number(max_aspect));
  return {min_area, max_area, std::log(min_aspect), std::log(max_aspect)};
}

inline std::string ShapeText(const dali::TensorShape<> &shape) {
  std::string dims;
  for (int d = 0; d < shape.size(); d++) dims += (d ? ", " : "") + std::to_string(shape[d]);
  return "(" + dims + ")";
}

// A per-sample CPU input of the operator: its batch size and type, checked.
inline const TensorList<CPUBackend> &PerSample(const dali::Workspace &ws, int index, const std::string &name,
                                               int n, std::initializer_list<DALIDataType> types,
                                               const std::string &expected) {
  const auto &input = ws.Input<CPUBackend>(index);
  if (input.num_samples() != n)
    FailType("erase: " + name, "expected one per sample, got " + std::to_string(input.num_samples()) + " for " +
                                   std::to_string(n) + " samples");
  bool known = n == 0;
  for (DALIDataType type : types) known = known || input.type() == type;
  if (!known) FailType("erase: " + name, "expected " + expected + ", got " + dali::GetBuiltinTypeName(input.type()));
  return input;
}

template <typename Backend>
class Erase : public dali::StatelessOperator<Backend> {
 public:
  explicit Erase(const dali::OpSpec &spec)
      : dali::StatelessOperator<Backend>(spec),
        layout_(spec.GetArgument<std::string>("layout")),
        mode_(spec.GetArgument<int>("mode")),
        ranges_(ReadRanges(spec)) {
    if (!layout_.empty() && layout_ != "HWC" && layout_ != "CHW")
      FailType("erase: layout", "expected 'HWC', 'CHW' or empty (the images' own), got '" + layout_ + "'");
    if (mode_ < kernels::kEraseConst || mode_ > kernels::kErasePixel)
      FailType("erase: mode", "expected 0 (const), 1 (rand) or 2 (pixel), got " + std::to_string(mode_));
  }

 protected:
  // Every input is checked and every box chosen here: nothing fails once work is queued.
  bool SetupImpl(std::vector<dali::OutputDesc> &outputs, const dali::Workspace &ws) override {
    const auto &images = ws.template Input<Backend>(0);
    const int n = images.num_samples();
    const DALIDataType type = images.type();
    if (n > 0 && type != DALIDataType::DALI_FLOAT && type != DALIDataType::DALI_FLOAT16)
      FailType("erase: images", std::string("expected float32 or float16, got ") + dali::GetBuiltinTypeName(type));
    layout_used_ = layout_.empty() ? std::string(images.GetLayout().c_str()) : layout_;
    if (images.sample_dim() != 3 || (layout_used_ != "HWC" && layout_used_ != "CHW"))
      FailType("erase: layout", "expected images in layout HWC or CHW (3 dimensions), got '" + layout_used_ +
                                    "' with " + std::to_string(images.sample_dim()) + " dimensions");
    Plan(ws, images.shape());
    outputs.resize(1);
    outputs[0] = {images.shape(), type};
    return true;
  }

  // Each sample's plan from its count, draws and key, for images of these shapes.
  void Plan(const dali::Workspace &ws, const dali::TensorListShape<> &shapes) {
    const int n = shapes.num_samples();
    const auto &count = PerSample(ws, 1, "count", n, {DALIDataType::DALI_INT32}, "int32");
    const auto &draws = PerSample(ws, 2, "draws", n, {DALIDataType::DALI_FLOAT}, "float32");
    const auto &key = PerSample(ws, 3, "key", n, {DALIDataType::DALI_INT32, DALIDataType::DALI_UINT32},
                                "int32 or uint32");
    const bool chw = layout_used_ == "CHW";
    plans_.assign(n, {});
    for (int i = 0; i < n; i++) {
      const auto s = shapes[i];
      const int H = static_cast<int>(s[chw ? 1 : 0]), W = static_cast<int>(s[chw ? 2 : 1]);
      const int C = static_cast<int>(s[chw ? 0 : 2]);
      const int boxes = Count(count, draws, i);
      Scalar(key, "key", i);
      ErasePlan &plan = plans_[i];
      std::memcpy(&plan.key, key.raw_tensor(i), sizeof(plan.key));  // int32 or uint32: the bits
      plan.geometry = kernels::MakeEraseGeometry(H, W, C, chw);
      const float *u = draws.template tensor<float>(i);
      for (int slot = 0; slot < boxes; slot++) {
        kernels::EraseBox box;
        if (kernels::ChooseBox(u + slot * kDrawsPerBox, boxes, H, W, ranges_, &box) && box.height > 0 &&
            box.width > 0)
          plan.boxes.push_back({box, slot});
      }
    }
  }

  // Sample i's count of boxes, checked against its draws (also checked: shape and range).
  static int Count(const TensorList<CPUBackend> &count, const TensorList<CPUBackend> &draws, int i) {
    Scalar(count, "count", i);
    const auto shape = draws.tensor_shape(i);
    if (shape.size() != 3 || shape[0] < 1 || shape[1] != kernels::kEraseAttempts || shape[2] != kernels::kEraseDraws)
      FailType("erase: draws", "sample " + std::to_string(i) + ": expected shape (max_count, " +
                                   std::to_string(kernels::kEraseAttempts) + ", " +
                                   std::to_string(kernels::kEraseDraws) + ") with max_count >= 1, got " +
                                   ShapeText(shape));
    const float *u = draws.tensor<float>(i);
    for (int64_t k = 0; k < shape.num_elements(); k++)
      if (!(u[k] >= 0.0f && u[k] <= 1.0f))  // NaN fails too
        FailType("erase: draws", "sample " + std::to_string(i) + ": expected uniforms from 0 to 1, got " + Number(u[k]));
    const int value = *count.tensor<int32_t>(i);
    if (value < 0 || value > shape[0])
      FailType("erase: count", "sample " + std::to_string(i) + ": expected 0 to max_count=" +
                                   std::to_string(shape[0]) + " (the draws' first dimension), got " +
                                   std::to_string(value));
    return value;
  }

  static void Scalar(const TensorList<CPUBackend> &input, const std::string &name, int i) {
    const auto shape = input.tensor_shape(i);
    if (shape.num_elements() != 1)
      FailType("erase: " + name, "sample " + std::to_string(i) + ": expected one value, got shape " + ShapeText(shape));
  }

  void RunImpl(dali::Workspace &ws) override;

  static constexpr int kDrawsPerBox = kernels::kEraseAttempts * kernels::kEraseDraws;

  const std::string layout_;
  const int mode_;
  const kernels::EraseRanges ranges_;
  std::string layout_used_;
  std::vector<ErasePlan> plans_;
};

}  // namespace dali_mixup

#endif  // DALI_MIXUP_OPERATORS_ERASE_OP_H_
