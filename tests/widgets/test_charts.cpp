// labels: fast
// The charts' axes: accuracies read as percent, a training loss as the number it is.
#include <QtTest>

#include "Charts.h"

class TestCharts : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void axisLabelsSayWhatTheValuesAre() {
        LineChart accuracy;
        QCOMPARE(accuracy.tickLabel(0.7), QStringLiteral("70%"));
        LineChart loss;
        loss.setYAxis(LineChart::YAxis::Number);
        QCOMPARE(loss.tickLabel(0.033), QStringLiteral("0.033"));
        QCOMPARE(loss.tickLabel(0.0), QStringLiteral("0"));
        QCOMPARE(loss.tickLabel(1.5), QStringLiteral("1.5"));
    }
};

QTEST_MAIN(TestCharts)
#include "test_charts.moc"
