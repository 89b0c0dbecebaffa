// SettingsDialog: data directory, device, threads, preview interval, theme. Stored in QSettings.
#pragma once
#include <QDialog>

struct StudioSettings {
    QString dataDir;            // empty: the default ($ATELIER_DATA_DIR, $XDG_DATA_HOME/atelier)
    QString device = QStringLiteral("auto");   // "auto", "cpu", "cuda"
    int threads = 0;            // 0: one per CPU
    int previewInterval = 1;    // steps between live previews
    QString theme = QStringLiteral("dark");    // "dark", "light"

    static StudioSettings load();
    void save() const;
};

class QComboBox;
class QLineEdit;
class QSpinBox;

class SettingsDialog : public QDialog {
    Q_OBJECT
public:
    explicit SettingsDialog(const StudioSettings& settings, QWidget* parent = nullptr);
    StudioSettings settings() const;

private:
    QLineEdit* dataDir_;
    QComboBox* device_;
    QSpinBox* threads_;
    QSpinBox* previewInterval_;
    QComboBox* theme_;
};

// Applies the dark or light palette to the whole application.
void applyTheme(const QString& theme);
