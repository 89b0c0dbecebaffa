// Start-up choices shared by the GUI's main() and the tests.
#pragma once
#include "MainWindow.h"

// OpenGL 3.3 core for the live view (Mesa llvmpipe under Xvfb provides it too). Call before QApplication.
void configureDefaultSurfaceFormat();
// The model to open first: the embedded default model, else $ATELIER_MODEL; threads set to one per CPU.
StudioOptions studioOptionsFromEnvironment();
