package blob

// SetS3Sizes shrinks the S3 store's upload parts, the largest object one
// CopyObject copies, its copy ranges and its listing pages, so tests reach
// the paths of large blobs and long listings with little data.
func SetS3Sizes(s *S3, part, copyLimit, copyPart int64, listPage int32) {
	s.partSize, s.copyLimit, s.copyPart, s.listPage = part, copyLimit, copyPart, listPage
}
