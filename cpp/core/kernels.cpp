// placeholder: filled in by the kernels work
#include "errors.h"
