// Conversions between the engine's 8-bit images and QImage (copies; no shared pixel buffers).
#pragma once
#include <QImage>

#include "atelier/image.h"

QImage toQImage(const atelier::Image& image);
atelier::Image fromQImage(const QImage& image);
