// SettingsDialog: data directory, device, threads, preview interval, theme, taste features. Stored in QSettings.
#pragma once
#include <QDialog>

#include <string>

struct StudioSettings {
    QString dataDir;            // empty: the default ($ATELIER_DATA_DIR, $XDG_DATA_HOME/atelier)
    QString device = QStringLiteral("auto");   // "auto", "cpu", "cuda"
    int threads = 0;            // 0: one per CPU
    int previewInterval = 1;    // steps between live previews
    QString theme = QStringLiteral("dark");    // "dark", "light"
    QString tasteFeatures;      // a feature set name; empty: the engine's default
    bool trainingSavesMemory = false;   // concept training with gradient checkpointing

    static StudioSettings load();
    void save() const;
};

class QCheckBox;
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
    QCheckBox* trainingSavesMemory_;
    QSpinBox* previewInterval_;
    QComboBox* theme_;
    QComboBox* tasteFeatures_;
};

// The feature set taste is learnt with (the person's choice, else the engine's default), for
// atelier::taste::make_feature_extractor.
std::string tasteFeatureSet();

// Applies the dark or light palette to the whole application.
void applyTheme(const QString& theme);
