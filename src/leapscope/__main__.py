from leapscope.cli import main

main()
