#include "ImageConvert.h"

#include <cstring>

QImage toQImage(const atelier::Image& image) {
    const QImage::Format format = image.channels == 4   ? QImage::Format_RGBA8888
                                  : image.channels == 1 ? QImage::Format_Grayscale8
                                                        : QImage::Format_RGB888;
    const QImage view(image.pixels.data(), image.width, image.height, image.width * image.channels, format);
    return view.copy();  // own the pixels
}

atelier::Image fromQImage(const QImage& source) {
    const QImage rgb = source.convertToFormat(QImage::Format_RGB888);
    atelier::Image image{rgb.width(), rgb.height(), 3, {}};
    image.pixels.resize(size_t(rgb.width()) * rgb.height() * 3);
    for (int y = 0; y < rgb.height(); ++y)
        std::memcpy(image.pixels.data() + size_t(y) * rgb.width() * 3, rgb.constScanLine(y), size_t(rgb.width()) * 3);
    return image;
}
