package job_test

import (
	"github.com/s3backfill/s3backfill/checkpoint"
	"github.com/s3backfill/s3backfill/internal/job"
)

var _ job.Store = (*checkpoint.DB)(nil)
