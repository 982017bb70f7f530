// snare::data — labelled folders of images (PNG, JPEG, BMP) decoded with stb_image.
#pragma once
