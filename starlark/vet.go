package starlark

// Vet parses and resolves the script at path and every module it loads,
// as Load does first, but runs nothing: not even the top level, so it
// works as well on a module that registers no test. It is for editors and
// for the CI of a repository of stages. Its errors are those of Load: each
// starts with file:line:col, several joined for a file with several
// resolve errors.
func Vet(path string, opts Options) error {
	_, err := Compile(path, CompileOptions{Stdlib: opts.Stdlib, Root: opts.Root, Predeclared: opts.environment().Has, Sandbox: opts.Sandbox != nil})
	if err != nil {
		return compileError(err)
	}
	return nil
}
