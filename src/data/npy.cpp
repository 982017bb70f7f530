#include "data/npy.h"
