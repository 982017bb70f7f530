// snare::data — NumPy .npy files and .npz archives.
#pragma once
