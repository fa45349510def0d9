-- The seed's DDL, copied verbatim from video-creation-backend-plan.md section 1: the contract
-- that tests/test_schema.py holds the migrated database to.
CREATE TABLE IF NOT EXISTS video_creation_jobs (
  id TEXT PRIMARY KEY,
  prompt_id TEXT NOT NULL,
  prompt_text TEXT NOT NULL,
  status TEXT NOT NULL CHECK(status IN ('idle', 'processing', 'completed', 'failed')),
  progress INTEGER DEFAULT 0,
  video_url TEXT,
  error TEXT,
  created_at TEXT NOT NULL,
  completed_at TEXT,
  metadata TEXT -- JSON string for additional data
);

CREATE INDEX idx_video_creation_jobs_status ON video_creation_jobs(status);
CREATE INDEX idx_video_creation_jobs_created_at ON video_creation_jobs(created_at DESC);
CREATE TABLE IF NOT EXISTS video_resources (
  id TEXT PRIMARY KEY,
  job_id TEXT NOT NULL,
  type TEXT NOT NULL CHECK(type IN ('image', 'video', 'audio', 'transcript')),
  url TEXT NOT NULL,
  filename TEXT NOT NULL,
  file_path TEXT,
  created_at TEXT NOT NULL,
  FOREIGN KEY (job_id) REFERENCES video_creation_jobs(id) ON DELETE CASCADE
);

CREATE INDEX idx_video_resources_job_id ON video_resources(job_id);
CREATE INDEX idx_video_resources_type ON video_resources(type);
CREATE TABLE IF NOT EXISTS video_creation_drafts (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  prompts TEXT NOT NULL, -- JSON array of prompts
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);

CREATE INDEX idx_video_creation_drafts_name ON video_creation_drafts(name);
