#include "data/images.h"
