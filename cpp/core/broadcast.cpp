// placeholder: filled in by the broadcast work
#include "errors.h"
