// Package test contains subpackages only used in tests.
package test
