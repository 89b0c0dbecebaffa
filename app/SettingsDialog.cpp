#include "SettingsDialog.h"

#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPalette>
#include <QPushButton>
#include <QSettings>
#include <QSpinBox>
#include <QStyleFactory>

#include "atelier/taste.h"

StudioSettings StudioSettings::load() {
    QSettings s;
    StudioSettings settings;
    settings.dataDir = s.value(QStringLiteral("dataDir")).toString();
    settings.device = s.value(QStringLiteral("device"), settings.device).toString();
    settings.threads = s.value(QStringLiteral("threads"), settings.threads).toInt();
    settings.previewInterval = s.value(QStringLiteral("previewInterval"), settings.previewInterval).toInt();
    settings.theme = s.value(QStringLiteral("theme"), settings.theme).toString();
    settings.tasteFeatures = s.value(QStringLiteral("tasteFeatures")).toString();
    settings.trainingSavesMemory = s.value(QStringLiteral("trainingSavesMemory"), false).toBool();
    return settings;
}

void StudioSettings::save() const {
    QSettings s;
    s.setValue(QStringLiteral("dataDir"), dataDir);
    s.setValue(QStringLiteral("device"), device);
    s.setValue(QStringLiteral("threads"), threads);
    s.setValue(QStringLiteral("previewInterval"), previewInterval);
    s.setValue(QStringLiteral("theme"), theme);
    s.setValue(QStringLiteral("tasteFeatures"), tasteFeatures);
    s.setValue(QStringLiteral("trainingSavesMemory"), trainingSavesMemory);
}

std::string tasteFeatureSet() {
    const std::string chosen = StudioSettings::load().tasteFeatures.toStdString();
    for (const std::string& available : atelier::taste::available_feature_sets())
        if (available == chosen) return chosen;
    return atelier::taste::default_feature_set();  // nothing chosen, or a set this installation lacks
}

SettingsDialog::SettingsDialog(const StudioSettings& settings, QWidget* parent) : QDialog(parent) {
    setWindowTitle(tr("Settings"));
    auto* form = new QFormLayout(this);
    auto* dirRow = new QHBoxLayout;
    dataDir_ = new QLineEdit(settings.dataDir);
    dataDir_->setPlaceholderText(tr("default"));
    auto* browse = new QPushButton(tr("…"));
    connect(browse, &QPushButton::clicked, this, [this] {
        const QString dir = QFileDialog::getExistingDirectory(this, tr("Data directory"), dataDir_->text());
        if (!dir.isEmpty()) dataDir_->setText(dir);
    });
    dirRow->addWidget(dataDir_, 1);
    dirRow->addWidget(browse);
    form->addRow(tr("Data directory (after restart)"), dirRow);
    device_ = new QComboBox;
    device_->addItem(tr("Auto (CUDA if present)"), QStringLiteral("auto"));
    device_->addItem(tr("CPU"), QStringLiteral("cpu"));
    device_->addItem(tr("CUDA"), QStringLiteral("cuda"));
    device_->setCurrentIndex(std::max(0, device_->findData(settings.device)));
    form->addRow(tr("Device (next model load)"), device_);
    threads_ = new QSpinBox;
    threads_->setRange(0, 256);
    threads_->setSpecialValueText(tr("one per CPU"));
    threads_->setValue(settings.threads);
    form->addRow(tr("Threads"), threads_);
    previewInterval_ = new QSpinBox;
    previewInterval_->setRange(0, 50);
    previewInterval_->setSpecialValueText(tr("no previews"));
    previewInterval_->setSuffix(tr(" steps"));
    previewInterval_->setValue(settings.previewInterval);
    form->addRow(tr("Preview every"), previewInterval_);
    theme_ = new QComboBox;
    theme_->addItem(tr("Dark"), QStringLiteral("dark"));
    theme_->addItem(tr("Light"), QStringLiteral("light"));
    theme_->setCurrentIndex(std::max(0, theme_->findData(settings.theme)));
    form->addRow(tr("Theme"), theme_);
    tasteFeatures_ = new QComboBox;
    tasteFeatures_->addItem(tr("Default (%1)").arg(QString::fromStdString(atelier::taste::default_feature_set())), QString());
    for (const std::string& set : atelier::taste::available_feature_sets()) {
        const QString name = QString::fromStdString(set);
        tasteFeatures_->addItem(set == "world-attributes-v1" ? tr("Learned world encoder (%1)").arg(name)
                                                             : tr("Picture statistics (%1)").arg(name),
                                name);
    }
    tasteFeatures_->setCurrentIndex(std::max(0, tasteFeatures_->findData(settings.tasteFeatures)));
    tasteFeatures_->setToolTip(tr("What the taste model sees in a picture. Each set keeps its own model, "
                                  "learnt again from the same choices."));
    form->addRow(tr("Taste features"), tasteFeatures_);
    trainingSavesMemory_ = new QCheckBox(tr("Save memory (gradient checkpointing)"));
    trainingSavesMemory_->setChecked(settings.trainingSavesMemory);
    trainingSavesMemory_->setToolTip(tr("Concept training recomputes the model's intermediate results instead of "
                                        "keeping them: the same result in less memory (a large model on a small "
                                        "GPU), for one more forward pass of each block."));
    form->addRow(tr("Concept training"), trainingSavesMemory_);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel);
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    form->addRow(buttons);
}

StudioSettings SettingsDialog::settings() const {
    StudioSettings s;
    s.dataDir = dataDir_->text().trimmed();
    s.device = device_->currentData().toString();
    s.threads = threads_->value();
    s.previewInterval = previewInterval_->value();
    s.theme = theme_->currentData().toString();
    s.tasteFeatures = tasteFeatures_->currentData().toString();
    s.trainingSavesMemory = trainingSavesMemory_->isChecked();
    return s;
}

void applyTheme(const QString& theme) {
    QApplication::setStyle(QStyleFactory::create(QStringLiteral("Fusion")));
    QPalette palette = QApplication::style()->standardPalette();
    if (theme == QLatin1String("dark")) {
        const QColor window(37, 37, 41), base(27, 27, 30), text(225, 225, 230), accent(94, 129, 244);
        palette.setColor(QPalette::Window, window);
        palette.setColor(QPalette::WindowText, text);
        palette.setColor(QPalette::Base, base);
        palette.setColor(QPalette::AlternateBase, QColor(44, 44, 49));
        palette.setColor(QPalette::ToolTipBase, window);
        palette.setColor(QPalette::ToolTipText, text);
        palette.setColor(QPalette::Text, text);
        palette.setColor(QPalette::Button, QColor(50, 50, 56));
        palette.setColor(QPalette::ButtonText, text);
        palette.setColor(QPalette::Highlight, accent);
        palette.setColor(QPalette::HighlightedText, Qt::white);
        palette.setColor(QPalette::Mid, QColor(140, 140, 150));
        palette.setColor(QPalette::PlaceholderText, QColor(120, 120, 130));
        palette.setColor(QPalette::Disabled, QPalette::Text, QColor(110, 110, 118));
        palette.setColor(QPalette::Disabled, QPalette::ButtonText, QColor(110, 110, 118));
        palette.setColor(QPalette::Disabled, QPalette::WindowText, QColor(110, 110, 118));  // labels, check boxes
    }
    QApplication::setPalette(palette);
}

#include "moc_SettingsDialog.cpp"
