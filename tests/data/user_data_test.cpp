#include "data/user_data.h"
