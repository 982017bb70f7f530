// snare::data — labelled CSV tables.
#pragma once
