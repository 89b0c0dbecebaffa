// ImagePane: one large image, scaled to fit with its aspect ratio, with a caption and a highlight
// (used for the two sides of a pair in Compare and for concept pictures).
#pragma once
#include <QImage>
#include <QWidget>

class ImagePane : public QWidget {
    Q_OBJECT
public:
    explicit ImagePane(const QString& caption = {}, QWidget* parent = nullptr);
    void setImage(const QImage& image);
    const QImage& image() const { return image_; }
    void setCaption(const QString& caption);
    void setHighlight(const QColor& color);  // invalid colour: none

protected:
    void paintEvent(QPaintEvent* event) override;

private:
    QImage image_;
    QString caption_;
    QColor highlight_;
};
