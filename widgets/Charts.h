// Small charts drawn with QPainter: horizontal bars with error whiskers (learned directions) and a
// line chart (learning curves).
#pragma once
#include <QVector>
#include <QWidget>

class BarChart : public QWidget {
    Q_OBJECT
public:
    struct Bar {
        QString label;
        double value = 0;
        double error = 0;  // drawn as +- whisker
    };
    explicit BarChart(QWidget* parent = nullptr);
    void setBars(const QVector<Bar>& bars);
    const QVector<Bar>& bars() const { return bars_; }
    QSize sizeHint() const override;

protected:
    void paintEvent(QPaintEvent* event) override;

private:
    QVector<Bar> bars_;
};

class LineChart : public QWidget {
    Q_OBJECT
public:
    explicit LineChart(QWidget* parent = nullptr);
    // Points (x, y) with y in [yMin, yMax]; x on a log scale when `logX`.
    void setPoints(const QVector<QPointF>& points, double yMin, double yMax, bool logX, const QString& yLabel);
    const QVector<QPointF>& points() const { return points_; }
    // How the y axis is labelled: fractions as percent (accuracies, the default) or plain numbers (a loss).
    enum class YAxis { Percent, Number };
    void setYAxis(YAxis axis);
    QString tickLabel(double y) const;
    QSize sizeHint() const override { return {320, 160}; }

protected:
    void paintEvent(QPaintEvent* event) override;

private:
    QVector<QPointF> points_;
    double yMin_ = 0, yMax_ = 1;
    bool logX_ = false;
    YAxis yAxis_ = YAxis::Percent;
    QString yLabel_;
};
