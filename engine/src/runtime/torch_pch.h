// Precompiled header for the torch translation units only (never included by a public header).
#pragma once
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
