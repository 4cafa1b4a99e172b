from benchmarks import bench_compile, bench_model, bench_pipeline, bench_results

bench_compile.main()
bench_model.main()
bench_pipeline.main()
bench_results.main()
