#include "data/csv.h"
