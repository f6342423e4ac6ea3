"""lit test format that runs a script once per case of the NumPy reference.

A test script (a `.test` file) that mentions `%{case}` is a template: lit runs
it once for every case that `REF list` prints, as the test
`<script>/<case>` (for example `Integration/ref/cpu.test/route_dsv3_dynamic`),
with `%{case}` replaced by the case name and `%{ref}` by the command that runs
the reference script REF. Each run is reported, filtered (`--filter`) and
marked UNSUPPORTED (by the script's `REQUIRES:`) on its own. A script without
`%{case}` is an ordinary lit test.
"""

import os
import subprocess

import lit.formats
import lit.Test
import lit.TestRunner

CASE = "%{case}"


class CaseTest(lit.Test.Test):
    """One case of a template: named after the template and the case, read
    from the template."""

    def __init__(self, suite, path_in_suite, config, template, case):
        super().__init__(suite, path_in_suite, config, file_path=template)
        self.case = case

    def getSourcePath(self):
        return self.file_path


class ReferenceCases(lit.formats.ShTest):
    """ShTest whose templates expand to one test per case of `reference`."""

    def __init__(self, python, reference, execute_external=False):
        super().__init__(execute_external)
        self.ref_command = "%s %s" % (python, reference)
        self.list_command = [python, reference, "list"]
        self.cases = None

    def _cases(self, litConfig):
        if self.cases is None:
            try:
                out = subprocess.run(self.list_command, check=True,
                                     stdout=subprocess.PIPE, text=True).stdout
            except (OSError, subprocess.CalledProcessError) as e:
                litConfig.fatal("cannot list the reference cases: %s" % e)
            self.cases = out.split()
        return self.cases

    def getTestsForPath(self, suite, path_in_suite, litConfig, localConfig):
        for test in super().getTestsForPath(suite, path_in_suite, litConfig,
                                            localConfig):
            with open(test.getSourcePath(), encoding="utf-8") as f:
                per_case = CASE in f.read()
            if not per_case:
                yield test
                continue
            for case in self._cases(litConfig):
                yield CaseTest(suite, path_in_suite + (case,), localConfig,
                               test.getSourcePath(), case)

    def execute(self, test, litConfig):
        if not isinstance(test, CaseTest):
            return super().execute(test, litConfig)
        return lit.TestRunner.executeShTest(
            test, litConfig, self.execute_external,
            [(CASE, test.case), ("%{ref}", self.ref_command)])
