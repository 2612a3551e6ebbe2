//go:build !linux || !desktop

package webview

// Grant does nothing here: the platform's web view (WebView2 on Windows,
// WKWebView on macOS) handles a page's permission requests itself.
func Grant(Options) {}
