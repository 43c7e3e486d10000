// placeholder: filled in by the value work
#include "errors.h"
