// DaliMixupResize: a random-resized-crop's resample (and flip) on the CPU, Pillow's antialiased
// BILINEAR / BICUBIC (kernels/resample_cpu.h), one image per task of DALI's thread pool.
//
// Input: uint8 HWC images of any sizes (the decoder's crop windows). Argument inputs, per sample:
// filter (int32: 0 bilinear, 1 bicubic), mirror (int32: nonzero flips horizontally), and
// optionally size itself (int32 (height, width) per sample: the validation's shorter-side
// resize, whose output size follows each image's aspect ratio). The random choices are DALI's
// draws, given as inputs: the operator has no state.
// Output: uint8 (size[0], size[1], C) of each sample, layout HWC.

#include <array>
#include <string>
#include <vector>

#include "../common/checks.h"
#include "../kernels/resample_cpu.h"
#include "arguments.h"
#include "dali/pipeline/operator/checkpointing/stateless_operator.h"
#include "dali/pipeline/operator/operator.h"
#include "dali/pipeline/util/thread_pool.h"

namespace dali_mixup {

using dali::CPUBackend;
using dali::DALIDataType;

class Resize : public dali::StatelessOperator<CPUBackend> {
 public:
  explicit Resize(const dali::OpSpec &spec)
      : dali::StatelessOperator<CPUBackend>(spec), per_sample_(spec.HasTensorArgument("size")) {
    if (!per_sample_) {
      const auto size = spec.GetRepeatedArgument<int>("size");
      DALI_ENFORCE(size.size() == 2 && size[0] >= 1 && size[1] >= 1, "size: expected (height, width), both >= 1");
      fixed_size_ = {size[0], size[1]};
    }
  }

 protected:
  bool SetupImpl(std::vector<dali::OutputDesc> &outputs, const dali::Workspace &ws) override {
    const auto &images = ws.Input<CPUBackend>(0);
    const int n = images.num_samples();
    CheckUint8HWC(images, "resize");
    ReadSizes(ws, n);
    const auto &shapes = images.shape();
    dali::TensorListShape<3> out(n);
    for (int i = 0; i < n; i++) {
      const auto s = shapes[i];
      out.set_tensor_shape(i, dali::TensorShape<3>{sizes_[i][0], sizes_[i][1], s[2]});
    }
    outputs.resize(1);
    outputs[0] = {out, DALIDataType::DALI_UINT8};
    return true;
  }

  void RunImpl(dali::Workspace &ws) override {
    const auto &images = ws.Input<CPUBackend>(0);
    auto &out = ws.Output<CPUBackend>(0);
    out.SetLayout("HWC");
    auto &pool = ws.GetThreadPool();
    scratch_.resize(pool.NumThreads());
    // Every argument read and checked before any work is queued: a throw with work queued
    // would leave the pool waiting for it.
    const int n = images.num_samples();
    std::vector<kernels::Filter> filters(n);
    std::vector<bool> mirrors(n);
    for (int i = 0; i < n; i++) {
      const int filter = spec_.GetArgument<int>("filter", &ws, i);
      if (filter != 0 && filter != 1)
        FailType("resize: filter", "sample " + std::to_string(i) + ": expected 0 (bilinear) or 1 (bicubic), got " +
                                       std::to_string(filter));
      filters[i] = static_cast<kernels::Filter>(filter);
      mirrors[i] = spec_.GetArgument<int>("mirror", &ws, i) != 0;
    }
    for (int i = 0; i < n; i++) {
      const auto s = images.tensor_shape(i);
      const kernels::ResampleShape shape{static_cast<int>(s[0]), static_cast<int>(s[1]), sizes_[i][0],
                                         sizes_[i][1], static_cast<int>(s[2])};
      // Larger images first: the pool runs the highest priority first, which balances its threads.
      pool.AddWork(
          [&, i, shape](int thread) {
            kernels::ResampleHWC(images.tensor<uint8_t>(i), out.mutable_tensor<uint8_t>(i), shape, filters[i],
                                 mirrors[i], scratch_[thread]);
          },
          static_cast<int64_t>(shape.in_h) * shape.in_w);
    }
    pool.RunAll();
  }

 private:
  // Each sample's output (height, width), read and checked in Setup: the fixed size, or the
  // per-sample argument input.
  void ReadSizes(const dali::Workspace &ws, int n) {
    sizes_.assign(n, fixed_size_);
    if (!per_sample_) return;
    const auto &arg = ws.ArgumentInput("size");
    if (arg.num_samples() != n)
      FailType("resize: size", "expected one (height, width) per sample, got " + std::to_string(arg.num_samples()) +
                                   " for " + std::to_string(n) + " samples");
    if (n > 0 && arg.type() != DALIDataType::DALI_INT32)
      FailType("resize: size", std::string("expected int32, got ") + dali::GetBuiltinTypeName(arg.type()));
    for (int i = 0; i < n; i++) {
      const auto shape = arg.tensor_shape(i);
      if (shape.size() != 1 || shape[0] != 2) {
        std::string dims;
        for (int d = 0; d < shape.size(); d++) dims += (d ? ", " : "") + std::to_string(shape[d]);
        FailType("resize: size", "sample " + std::to_string(i) + ": expected 2 values (height, width), got shape (" +
                                     dims + ")");
      }
      const int *hw = arg.tensor<int>(i);
      if (hw[0] < 1 || hw[1] < 1)
        FailType("resize: size", "sample " + std::to_string(i) + ": expected (height, width), both >= 1, got (" +
                                     std::to_string(hw[0]) + ", " + std::to_string(hw[1]) + ")");
      sizes_[i] = {hw[0], hw[1]};
    }
  }

  const bool per_sample_;
  std::array<int, 2> fixed_size_{};
  std::vector<std::array<int, 2>> sizes_;
  // One per pool thread: buffers reused from image to image, never carried between outputs.
  std::vector<kernels::ResampleScratch> scratch_;
};

}  // namespace dali_mixup

namespace dali {

DALI_REGISTER_OPERATOR(DaliMixupResize, ::dali_mixup::Resize, CPU);

DALI_SCHEMA(DaliMixupResize)
    .DocStr("dali_mixup's antialiased resample and flip of uint8 HWC images (see dali_mixup.resample).")
    .NumInput(1)
    .NumOutput(1)
    .MakeStateless()
    .AddArg("size", "Output (height, width): one for the batch, or int32 (2,) per sample as an argument input.",
            DALIDataType::DALI_INT_VEC, true)
    .AddOptionalArg("filter", "0 bilinear, 1 bicubic, per sample.", 0, true)
    .AddOptionalArg("mirror", "Nonzero: flip horizontally, per sample.", 0, true);

}  // namespace dali
