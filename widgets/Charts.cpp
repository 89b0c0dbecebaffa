#include "Charts.h"

#include <QPainter>
#include <QPainterPath>
#include <cmath>

BarChart::BarChart(QWidget* parent) : QWidget(parent) { setMinimumHeight(60); }

void BarChart::setBars(const QVector<Bar>& bars) {
    bars_ = bars;
    updateGeometry();
    update();
}

QSize BarChart::sizeHint() const { return {320, std::max(60, int(bars_.size()) * 26 + 16)}; }

void BarChart::paintEvent(QPaintEvent*) {
    QPainter painter(this);
    painter.setRenderHint(QPainter::Antialiasing);
    const QColor text = palette().color(QPalette::WindowText);
    if (bars_.isEmpty()) {
        painter.setPen(palette().color(QPalette::Mid));
        painter.drawText(rect(), Qt::AlignCenter, tr("Nothing learned yet"));
        return;
    }
    double extent = 0.1;
    for (const Bar& bar : bars_) extent = std::max(extent, std::abs(bar.value) + bar.error);
    const int labelWidth = std::min(width() / 2, 190);
    const double zero = labelWidth + (width() - labelWidth - 10) / 2.0;
    const double scale = (width() - labelWidth - 14) / (2.0 * extent);
    painter.setPen(QPen(palette().color(QPalette::Mid), 1));
    painter.drawLine(QPointF(zero, 4), QPointF(zero, height() - 4));
    for (int i = 0; i < bars_.size(); ++i) {
        const Bar& bar = bars_[i];
        const double y = 8 + i * 26;
        painter.setPen(text);
        painter.drawText(QRectF(0, y, labelWidth - 8, 20), Qt::AlignRight | Qt::AlignVCenter, bar.label);
        const QColor color = bar.value >= 0 ? QColor(94, 180, 120) : QColor(220, 110, 90);
        const QRectF box(std::min(zero, zero + bar.value * scale), y + 3, std::abs(bar.value) * scale, 14);
        painter.fillRect(box, color);
        painter.setPen(QPen(text, 1));
        const double lo = zero + (bar.value - bar.error) * scale, hi = zero + (bar.value + bar.error) * scale;
        painter.drawLine(QPointF(lo, y + 10), QPointF(hi, y + 10));
        painter.drawLine(QPointF(lo, y + 6), QPointF(lo, y + 14));
        painter.drawLine(QPointF(hi, y + 6), QPointF(hi, y + 14));
    }
}

LineChart::LineChart(QWidget* parent) : QWidget(parent) { setMinimumHeight(120); }

void LineChart::setPoints(const QVector<QPointF>& points, double yMin, double yMax, bool logX, const QString& yLabel) {
    points_ = points;
    yMin_ = yMin;
    yMax_ = yMax;
    logX_ = logX;
    yLabel_ = yLabel;
    update();
}

void LineChart::setYAxis(YAxis axis) {
    yAxis_ = axis;
    update();
}

QString LineChart::tickLabel(double y) const {
    return yAxis_ == YAxis::Percent ? QString::number(y * 100, 'f', 0) + QLatin1Char('%') : QString::number(y, 'g', 2);
}

void LineChart::paintEvent(QPaintEvent*) {
    QPainter painter(this);
    painter.setRenderHint(QPainter::Antialiasing);
    const QColor text = palette().color(QPalette::WindowText), mid = palette().color(QPalette::Mid);
    const QRectF plot = QRectF(rect()).adjusted(40, 10, -12, -24);
    painter.setPen(mid);
    painter.drawRect(plot);
    for (double y : {yMin_, (yMin_ + yMax_) / 2, yMax_}) {
        const double py = plot.bottom() - (y - yMin_) / (yMax_ - yMin_) * plot.height();
        painter.drawText(QRectF(0, py - 8, 36, 16), Qt::AlignRight | Qt::AlignVCenter, tickLabel(y));
    }
    if (points_.isEmpty()) {
        painter.drawText(plot, Qt::AlignCenter, tr("No data yet"));
        return;
    }
    auto fx = [&](double x) { return logX_ ? std::log(std::max(1.0, x)) : x; };
    double x0 = fx(points_.front().x()), x1 = fx(points_.back().x());
    if (x1 - x0 < 1e-9) x1 = x0 + 1;
    QPainterPath path;
    for (int i = 0; i < points_.size(); ++i) {
        const QPointF p(plot.left() + (fx(points_[i].x()) - x0) / (x1 - x0) * plot.width(),
                        plot.bottom() - (points_[i].y() - yMin_) / (yMax_ - yMin_) * plot.height());
        if (i == 0) path.moveTo(p);
        else path.lineTo(p);
        painter.setPen(text);
        painter.drawText(QRectF(p.x() - 20, plot.bottom() + 4, 40, 16), Qt::AlignCenter, QString::number(points_[i].x()));
        painter.setBrush(QColor(94, 129, 244));
        painter.drawEllipse(p, 3, 3);
    }
    painter.setBrush(Qt::NoBrush);
    painter.setPen(QPen(QColor(94, 129, 244), 2));
    painter.drawPath(path);
    painter.setPen(mid);
    painter.drawText(plot.adjusted(6, 2, 0, 0), Qt::AlignLeft | Qt::AlignTop, yLabel_);
}

#include "moc_Charts.cpp"
