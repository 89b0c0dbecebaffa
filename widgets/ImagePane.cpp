#include "ImagePane.h"

#include <QPainter>

ImagePane::ImagePane(const QString& caption, QWidget* parent) : QWidget(parent), caption_(caption) {
    setMinimumSize(200, 200);
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
}

void ImagePane::setImage(const QImage& image) {
    image_ = image;
    update();
}

void ImagePane::setCaption(const QString& caption) {
    caption_ = caption;
    update();
}

void ImagePane::setHighlight(const QColor& color) {
    highlight_ = color;
    update();
}

void ImagePane::paintEvent(QPaintEvent*) {
    QPainter painter(this);
    painter.fillRect(rect(), QColor(24, 24, 28));
    const QRect area = rect().adjusted(8, 30, -8, -8);
    if (!image_.isNull()) {
        const QSize size = image_.size().scaled(area.size(), Qt::KeepAspectRatio);
        const QRect target(area.center().x() - size.width() / 2, area.center().y() - size.height() / 2, size.width(),
                           size.height());
        // Small generated images are upscaled crisply; large photos smoothly.
        painter.setRenderHint(QPainter::SmoothPixmapTransform, image_.width() >= target.width());
        painter.drawImage(target, image_);
    } else {
        painter.setPen(QColor(140, 140, 150));
        painter.drawText(area, Qt::AlignCenter, tr("no image"));
    }
    painter.setPen(QColor(230, 230, 235));
    QFont font = painter.font();
    font.setPointSize(font.pointSize() + 2);
    font.setBold(true);
    painter.setFont(font);
    painter.drawText(QRect(10, 4, width() - 20, 24), Qt::AlignLeft | Qt::AlignVCenter, caption_);
    if (highlight_.isValid()) {
        painter.setPen(QPen(highlight_, 5));
        painter.drawRect(rect().adjusted(3, 3, -3, -3));
    }
}

#include "moc_ImagePane.cpp"
