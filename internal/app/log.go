package app

import (
	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// zapOptions are production defaults: JSON lines, info level.
func zapOptions() *zap.Options { return &zap.Options{Development: false} }

func newLogger(o *zap.Options) logr.Logger { return zap.New(zap.UseFlagOptions(o)) }
