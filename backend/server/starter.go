package server

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/healthhub/healthhub/backend/domain"
	starter "github.com/healthhub/healthhub/knowledge"
)

// starterMarker, in the data folder, records that the starter documents
// were installed, so a clinic that removes the source does not get it back.
const starterMarker = ".knowledge-starter-installed"

// installStarter copies the starter documents to <data dir>/knowledge (the
// clinic edits them there; files already there are kept) and adds the
// folder as a knowledge source everyone may see, once.
func (s *System) installStarter(ctx context.Context) error {
	switch s.Config.KnowledgeStarter {
	case "false":
		return nil
	case "auto":
		if s.Store.Engine() != "sqlite" {
			return nil
		}
	}
	marker := filepath.Join(s.Config.DataDir, starterMarker)
	if _, err := os.Stat(marker); err == nil {
		return nil
	}
	dir := filepath.Join(s.Config.DataDir, "knowledge")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	err := fs.WalkDir(starter.Files(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path == "README.md" { // the README speaks to the clinic's editors, not its patients
			return err
		}
		data, err := fs.ReadFile(starter.Files(), path)
		if err != nil {
			return err
		}
		f, err := os.OpenFile(filepath.Join(dir, path), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			return nil // the clinic's own version stays
		}
		if err != nil {
			return err
		}
		if _, err := f.Write(data); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	})
	if err != nil {
		return err
	}
	if _, err := s.Knowledge.EnsureFolder(ctx, dir, domain.VisibilityEveryone); err != nil {
		return err
	}
	s.Logger.Info("starter knowledge base installed; replace the sample documents with the clinic's own", "folder", dir)
	return os.WriteFile(marker, nil, 0o600)
}
