/* The system CBLAS: Accelerate on macOS, OpenBLAS's cblas.h elsewhere. */
#ifndef TSDISTILL_BLAS_H
#define TSDISTILL_BLAS_H
#if defined(__APPLE__)
#include <Accelerate/Accelerate.h>
#else
#include <cblas.h>
#endif
#endif
