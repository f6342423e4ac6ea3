// The committed dialect and pass reference (docs/reference, copied by
// scripts/gen-docs) is what mlir-tblgen generates from the ODS now.
// RUN: diff -u %moe_src_root/docs/reference/MoEDialect.md %moe_obj_root/docs/moe/MoEDialect.md
// RUN: diff -u %moe_src_root/docs/reference/MoEPasses.md %moe_obj_root/docs/moe/MoEPasses.md
// RUN: diff -u %moe_src_root/docs/reference/MoEConversionPasses.md %moe_obj_root/docs/moe/MoEConversionPasses.md
