// Checks shared by the operators that read DALI's inputs and arguments: a batch of uint8 HWC
// images, and a decimal argument read as a double. Failures throw FailType's tag (checks.h).
#ifndef DALI_MIXUP_OPERATORS_ARGUMENTS_H_
#define DALI_MIXUP_OPERATORS_ARGUMENTS_H_

#include <cmath>
#include <cstdlib>
#include <string>

#include "../common/checks.h"
#include "dali/pipeline/operator/operator.h"

namespace dali_mixup {

// uint8 images of layout HWC (or none), 3 dimensions, no sample empty; `op` names the operator
// in the failure's tag ("resize" -> "resize: images").
inline void CheckUint8HWC(const dali::TensorList<dali::CPUBackend> &images, const std::string &op) {
  const std::string what = op + ": images";
  if (images.num_samples() > 0 && images.type() != dali::DALIDataType::DALI_UINT8)
    FailType(what, std::string("expected uint8, got ") + dali::GetBuiltinTypeName(images.type()));
  const auto layout = images.GetLayout();
  if (images.sample_dim() != 3 || !(layout.empty() || layout == "HWC"))
    FailType(what, "expected layout HWC (3 dimensions), got '" + layout.str() + "' with " +
                       std::to_string(images.sample_dim()) + " dimensions");
  for (int i = 0; i < images.num_samples(); i++) {
    const auto s = images.tensor_shape(i);
    if (s[0] < 1 || s[1] < 1 || s[2] < 1)
      FailType(what, "sample " + std::to_string(i) + " is empty (a side or the channels have size 0)");
  }
}

// A decimal argument read as a double: DALI's float arguments are float32, and timm's values
// (erasing's ranges, translate_pct) are Python floats, whose float32 roundings can change a result.
inline double DecimalArgument(const dali::OpSpec &spec, const std::string &op, const std::string &name) {
  const std::string text = spec.GetArgument<std::string>(name);
  char *end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(value))
    FailType(op + ": " + name, "expected a finite decimal number, got '" + text + "'");
  return value;
}

}  // namespace dali_mixup

#endif  // DALI_MIXUP_OPERATORS_ARGUMENTS_H_
