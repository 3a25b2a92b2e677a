// DaliMixupAugment: timm's RandAugment / AutoAugment operations on the CPU, as Pillow computes
// them (kernels/augment_cpu.h), one image per task of DALI's thread pool.
//
// Input 0: uint8 HWC images, 1 or 3 channels, any size per sample. Inputs 1-3, per sample, 1-D
// of one length K each: ops (int32 codes, kernels/augment_params.h), levels (float32), filters
// (int32: 0 bilinear, 1 bicubic, for geometric ops). The random draws are inputs: no state.
// Output: uint8, the input's shape, layout HWC.

#include <cmath>
#include <string>
#include <vector>

#include "../common/checks.h"
#include "../kernels/augment_cpu.h"
#include "arguments.h"
#include "dali/pipeline/operator/checkpointing/stateless_operator.h"
#include "dali/pipeline/operator/operator.h"
#include "dali/pipeline/util/thread_pool.h"

namespace dali_mixup {

using dali::CPUBackend;
using dali::DALIDataType;
namespace aug = kernels::augment;

class Augment : public dali::StatelessOperator<CPUBackend> {
 public:
  explicit Augment(const dali::OpSpec &spec) : dali::StatelessOperator<CPUBackend>(spec) {
    const auto fill = spec.GetRepeatedArgument<int>("fill");
    DALI_ENFORCE(fill.size() == 3, "fill: expected 3 values");
    for (int b = 0; b < 3; b++) {
      DALI_ENFORCE(fill[b] >= 0 && fill[b] <= 255, "fill: expected values in [0, 255]");
      fill_[b] = static_cast<uint8_t>(fill[b]);
    }
    hparams_.translate_const = spec.GetArgument<int>("translate_const");
    hparams_.translate_pct = DecimalArgument(spec, "augment", "translate_pct");
  }

 protected:
  bool SetupImpl(std::vector<dali::OutputDesc> &outputs, const dali::Workspace &ws) override {
    const auto &images = ws.Input<CPUBackend>(0);
    const int n = images.num_samples();
    CheckUint8HWC(images, "augment");
    for (int i = 0; i < n; i++) {
      const auto s = images.tensor_shape(i);
      if (s[2] != 1 && s[2] != 3)
        FailType("augment: images", "sample " + std::to_string(i) + ": expected 1 or 3 channels, got " +
                                        std::to_string(s[2]));
    }
    CheckLists(ws, n);
    outputs.resize(1);
    outputs[0] = {images.shape(), DALIDataType::DALI_UINT8};
    return true;
  }

  void RunImpl(dali::Workspace &ws) override {
    const auto &images = ws.Input<CPUBackend>(0);
    const auto &ops = ws.Input<CPUBackend>(1), &levels = ws.Input<CPUBackend>(2),
               &filters = ws.Input<CPUBackend>(3);
    auto &out = ws.Output<CPUBackend>(0);
    out.SetLayout("HWC");
    auto &pool = ws.GetThreadPool();
    scratch_.resize(pool.NumThreads());
    for (int i = 0; i < images.num_samples(); i++) {
      const auto s = images.tensor_shape(i);
      const aug::Shape shape{static_cast<int>(s[0]), static_cast<int>(s[1]), static_cast<int>(s[2])};
      // Larger images first: the pool runs the highest priority first, which balances its threads.
      pool.AddWork(
          [&, i, shape](int thread) {
            aug::ApplyOps(images.tensor<uint8_t>(i), out.mutable_tensor<uint8_t>(i), shape, ops.tensor<int>(i),
                          levels.tensor<float>(i), filters.tensor<int>(i),
                          static_cast<int>(ops.tensor_shape(i)[0]), hparams_, fill_, scratch_[thread]);
          },
          shape.Bytes());
    }
    pool.RunAll();
  }

 private:
  // ops, levels and filters: types, 1-D of one length per sample, known codes, filters 0 or 1,
  // finite levels, hue factors in torchvision's range; all checked here, before any work is queued.
  static void CheckLists(const dali::Workspace &ws, int n) {
    const char *names[3] = {"augment: ops", "augment: levels", "augment: filters"};
    const DALIDataType types[3] = {DALIDataType::DALI_INT32, DALIDataType::DALI_FLOAT, DALIDataType::DALI_INT32};
    for (int k = 0; k < 3; k++) {
      const auto &list = ws.Input<CPUBackend>(k + 1);
      if (list.num_samples() != n)
        FailType(names[k], "expected one list per sample, got " + std::to_string(list.num_samples()) + " for " +
                               std::to_string(n) + " samples");
      if (n > 0 && list.type() != types[k])
        FailType(names[k], std::string("expected ") + dali::GetBuiltinTypeName(types[k]) + ", got " +
                               dali::GetBuiltinTypeName(list.type()));
      if (list.sample_dim() != 1)
        FailType(names[k], "expected a 1-D list per sample, got " + std::to_string(list.sample_dim()) + " dimensions");
    }
    const auto &ops = ws.Input<CPUBackend>(1), &levels = ws.Input<CPUBackend>(2),
               &filters = ws.Input<CPUBackend>(3);
    for (int i = 0; i < n; i++) {
      const auto count = ops.tensor_shape(i)[0];
      const std::string sample = "sample " + std::to_string(i);
      for (int k = 2; k <= 3; k++)
        if (ws.Input<CPUBackend>(k).tensor_shape(i)[0] != count)
          FailType(names[k - 1], sample + ": expected as many values as ops (" + std::to_string(count) + "), got " +
                                     std::to_string(ws.Input<CPUBackend>(k).tensor_shape(i)[0]));
      for (int64_t j = 0; j < count; j++) {
        const int op = ops.tensor<int>(i)[j], filter = filters.tensor<int>(i)[j];
        const float level = levels.tensor<float>(i)[j];
        if (op < 0 || op >= aug::kNumOps)
          FailType("augment: ops", sample + ": unknown op code " + std::to_string(op) + " (expected 0 to " +
                                       std::to_string(aug::kNumOps - 1) + ")");
        if (filter != 0 && filter != 1)
          FailType("augment: filters",
                   sample + ": expected 0 (bilinear) or 1 (bicubic), got " + std::to_string(filter));
        if (!std::isfinite(level))
          FailType("augment: levels", sample + ": level " + std::to_string(j) + " is not finite");
        if (op == aug::kHue && !(level >= -0.5f && level <= 0.5f))  // torchvision's range
          FailType("augment: levels",
                   sample + ": hue factor " + std::to_string(level) + " is not between -0.5 and 0.5");
      }
    }
  }

  uint8_t fill_[3] = {128, 128, 128};
  aug::Hparams hparams_;
  // One per pool thread: buffers reused from image to image, never carried between outputs.
  std::vector<aug::Scratch> scratch_;
};

}  // namespace dali_mixup

namespace dali {

DALI_REGISTER_OPERATOR(DaliMixupAugment, ::dali_mixup::Augment, CPU);

DALI_SCHEMA(DaliMixupAugment)
    .DocStr("timm's RandAugment / AutoAugment operations on uint8 HWC images, as Pillow computes them "
            "(see dali_mixup.augment_ops).")
    .NumInput(4)
    .NumOutput(1)
    .MakeStateless()
    .AddOptionalArg("fill", "Per-channel colour of pixels outside the source in geometric ops.",
                    std::vector<int>{128, 128, 128})
    .AddOptionalArg("translate_const", "timm's translate_const: TranslateX/Y pixels at level 10.", 100)
    .AddOptionalArg("translate_pct",
                    "timm's translate_pct, TranslateX/YRel share of the side at level 10: Python's repr of the float.",
                    std::string("0.45"));

}  // namespace dali
