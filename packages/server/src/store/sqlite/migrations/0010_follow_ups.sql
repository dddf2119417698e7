-- Follow-up actions (upscale, variation, reroll on an earlier image). A follow-up task keeps the
-- parent it continues (JSON: the resolved FollowUp), so a restart before it runs keeps it too.
ALTER TABLE tasks ADD COLUMN follow_up TEXT;

-- The output files of succeeded tasks by owner and file id (`image_id`), written in the
-- transaction that finishes the task: a follow-up finds its parent with one primary-key lookup,
-- and another owner's file id is a miss exactly like an unknown one.
CREATE TABLE task_files (
  owner_id TEXT NOT NULL,
  file_id  TEXT NOT NULL,
  task_id  TEXT NOT NULL REFERENCES tasks (id),
  PRIMARY KEY (owner_id, file_id)
) WITHOUT ROWID;

INSERT OR IGNORE INTO task_files (owner_id, file_id, task_id)
  SELECT t.owner_id, json_extract(f.value, '$.id'), t.id
  FROM tasks t, json_each(t.output, '$.files') f
  WHERE t.state = 'succeeded' AND t.output IS NOT NULL AND json_type(f.value, '$.id') = 'text';
