// placeholder: filled in by the tensor work
#include "errors.h"
